"""Queue producers of unique items and consumers in ack mode and in the default mode,
recording every put's outcome, every delivery and every ack."""

from __future__ import annotations

import threading

from etcd3py import Client, EtcdError, LeaseLostError
from etcd3py.recipes import Queue

from .recipe_history import Ack, Delivery, Enqueue
from .recipe_worker import NAMESPACE, Shared, Worker, outcome_of
from .traffic import CALL_TIMEOUT

ACK_QUEUE = NAMESPACE + b"queue-ack"
PLAIN_QUEUE = NAMESPACE + b"queue-plain"
QUEUE_TTL = 3


class Producer(Worker):
    """Puts unique items, recording each put's outcome."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event, queue: bytes) -> None:
        super().__init__(name, shared, stop)
        self.queue = queue

    def body(self) -> None:
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            queue = Queue(client, self.queue)
            n = 0
            while not self.pause(0.1, 0.3):
                n += 1
                item = b"%s-%d" % (self.label.encode(), n)
                call = self.clock.now()
                ret: float | None
                try:
                    queue.put(item)
                    outcome, ret = "ok", self.clock.now()
                except EtcdError as err:
                    outcome = outcome_of(err)
                    ret = self.clock.now() if outcome == "failed" else None
                    self.stats.count(err)
                name = self.queue.decode()
                self.records.enqueues.append(Enqueue(name, self.label, item, call, ret, outcome))


class Consumer(Worker):
    """Takes items until stopped; in ack mode acks each after a short piece of work.

    An ack-mode take or ack that failed may leave a claim on our session: the queue is
    closed (its session revoked, its claims freed for other consumers) and made again."""

    def __init__(
        self, name: str, shared: Shared, stop: threading.Event, queue: bytes, ack: bool
    ) -> None:
        super().__init__(name, shared, stop)
        self.queue, self.ack = queue, ack

    def body(self) -> None:
        name = self.queue.decode()
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                try:
                    if self.ack:
                        self._ack_mode(client, name)
                    else:
                        self._plain_mode(client, name)
                except EtcdError as err:
                    self.failed(err)

    def _plain_mode(self, client: Client, name: str) -> None:
        queue = Queue(client, self.queue)
        while not self.halt.is_set():
            item = queue.get(timeout=0.3)
            if item is not None:
                self._delivered(name, item)

    def _ack_mode(self, client: Client, name: str) -> None:
        queue = Queue(client, self.queue, ack=True, ttl=QUEUE_TTL)
        try:
            while not self.halt.is_set():
                job = queue.get(timeout=0.3)
                if job is None:
                    continue
                self._delivered(name, job.value)
                self.pause(0.01, 0.05)  # the work
                try:
                    job.ack()
                    self._acked(name, job.value, "ok")
                except LeaseLostError:
                    self._acked(name, job.value, "lost")
                except EtcdError:
                    # the claim may stand on our live session: closing the queue frees it
                    self._acked(name, job.value, "unknown")
                    raise
        finally:
            try:
                queue.close()
            except EtcdError as err:
                self.stats.count(err)  # its session then expires within QUEUE_TTL

    def _delivered(self, name: str, item: bytes) -> None:
        self.records.deliveries.append(Delivery(name, self.label, item, self.clock.now()))

    def _acked(self, name: str, item: bytes, outcome: str) -> None:
        self.records.acks.append(Ack(name, self.label, item, self.clock.now(), outcome))
