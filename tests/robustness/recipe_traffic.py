"""Recipe workloads for the robustness runs: Mutex holders doing fenced writes, an
Election with observers, two Queues (ack mode and default mode), kept-alive Sessions.

Each workload (recipe_lock, recipe_election, recipe_queue, recipe_leases) is a few
threads, each with its own client, seeded from the run's seed and timed on the run's
Clock, recording what it saw in a RecipeRecords that the recipe checkers read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from etcd3py import Client, EtcdError
from etcd3py.recipes import Election, Queue

from .recipe_election import ELECTION, AsyncElectionObserver, Candidate, ElectionObserver
from .recipe_history import FinalLeader, RecipeRecords
from .recipe_leases import LeaseKeeper
from .recipe_lock import AsyncLockHolder, LockHolder
from .recipe_queue import ACK_QUEUE, PLAIN_QUEUE, Consumer, Producer
from .recipe_worker import Shared, Worker
from .traffic import Clock, sum_counts

SETTLE_TIMEOUT = 20.0  # seconds the end may take to drain queues and converge observers


class RecipeTraffic:
    """Every recipe workload of one run, started and ended together."""

    def __init__(
        self, endpoints: Sequence[str], seed: int, clock: Clock, broken_lock: bool = False
    ) -> None:
        self._endpoints = list(endpoints)
        self.records = RecipeRecords()
        self.records.ack_mode = {ACK_QUEUE.decode(): True, PLAIN_QUEUE.decode(): False}
        self._stop_work = threading.Event()  # lock holders, candidates, producers
        self._stop_rest = threading.Event()  # observers, consumers, lease keepers
        shared = Shared(self._endpoints, seed, clock, self.records, broken_lock)
        work, rest = self._stop_work, self._stop_rest
        self.holders: list[Worker] = [
            LockHolder("lock-sync-0", shared, work),
            LockHolder("lock-sync-1", shared, work),
            AsyncLockHolder("lock-async-2", shared, work),
        ]
        self.candidates = [Candidate(f"candidate-{i}", shared, work, rest) for i in range(2)]
        self.producers = [
            Producer("producer-ack", shared, work, ACK_QUEUE),
            Producer("producer-plain", shared, work, PLAIN_QUEUE),
        ]
        self.observers = [
            ElectionObserver("observer-sync-0", shared, rest),
            AsyncElectionObserver("observer-async-1", shared, rest),
        ]
        self.consumers = [
            Consumer("consumer-ack-0", shared, rest, ACK_QUEUE, True),
            Consumer("consumer-ack-1", shared, rest, ACK_QUEUE, True),
            Consumer("consumer-plain-0", shared, rest, PLAIN_QUEUE, False),
        ]
        self.keepers = [LeaseKeeper("keeper", shared, rest)]

    @property
    def workers(self) -> list[Worker]:
        return [
            *self.observers,
            *self.consumers,
            *self.keepers,
            *self.holders,
            *self.candidates,
            *self.producers,
        ]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def finish(self, timeout: float = 30.0) -> tuple[RecipeRecords, list[str]]:
        """Stop the workers that change things, let the queues drain and the observers
        converge on the last leader, stop the rest; the records and the harness's
        problems."""
        self._stop_work.set()
        for worker in [*self.holders, *self.producers]:
            worker.join(timeout)
        for candidate in self.candidates:
            candidate.idle.wait(timeout)
        with Client(self._endpoints, timeout=10.0) as client:
            self._settle(client)
        self._stop_rest.set()
        for worker in self.workers:
            worker.join(timeout)
        problems = [f"{w.label} crashed: {w.crash!r}" for w in self.workers if w.crash]
        problems += [f"{w.label} did not stop" for w in self.workers if w.is_alive()]
        return self.records, problems

    def _settle(self, client: Client) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        for name in self.records.ack_mode:
            queue = Queue(client, name)
            try:
                drained = queue.join(timeout=max(0.0, deadline - time.monotonic()))
            except EtcdError:
                drained = False
            self.records.drained[name] = drained
        election = Election(client, ELECTION)

        def observers_agree() -> bool:
            """Read the leader again each time: a candidate still finishing a term, or a
            session expiring, may change it after a first read (seen on etcd 3.4.23,
            seed 2614: the observers were right, the single read was old)."""
            try:
                leader = election.leader()
            except EtcdError:
                return False
            if leader is None:
                self.records.final_leader = None
                return True
            final = FinalLeader(
                leader.key, leader.create_revision, leader.mod_revision, leader.value
            )
            self.records.final_leader = final
            return all(self._agrees(o, final) for o in self.observers)

        self.records.converged = _until(deadline, observers_agree)

    @staticmethod
    def _agrees(observer: ElectionObserver, final: FinalLeader) -> bool:
        last = observer.last
        return last is not None and (last.term, last.mod_revision) == (
            final.term,
            final.mod_revision,
        )

    def error_counts(self) -> dict[str, int]:
        return sum_counts(w.stats.errors for w in self.workers)


def _until(deadline: float, condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` until it holds (True) or the deadline passes (False)."""
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling other threads' progress, under a deadline
    return True
