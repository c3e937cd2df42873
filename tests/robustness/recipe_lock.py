"""Mutex holders doing fenced writes (sync Client and AsyncClient): each holding is
recorded with its fencing token, each write with its outcome and revision, each loss
notice with its time."""

from __future__ import annotations

import asyncio
import threading
import time

from etcd3py import (
    AsyncClient,
    Client,
    Compare,
    CreateRevision,
    Delete,
    EtcdError,
    Get,
    LockNotHeldError,
    Put,
    Txn,
)
from etcd3py.recipes import AsyncMutex, AsyncSession, Mutex, Session

from .recipe_history import Acquisition, FencedWrite, LossNotice
from .recipe_worker import NAMESPACE, Shared, Worker, outcome_of
from .traffic import CALL_TIMEOUT

LOCK = NAMESPACE + b"lock"
FENCED = NAMESPACE + b"fenced"
LOCK_TTL = 2


class Holding:
    """Records of one holding of the lock: its fenced writes and its loss notice.

    A holder told that its session was lost goes on writing (fenced) until etcd
    refuses, for at most LOCK_TTL + 2 s: what the lock checker needs to see that a
    refusal never comes before the notice."""

    def __init__(self, worker: Worker, key: bytes, token: int) -> None:
        self.worker, self.key, self.token = worker, key, token
        self.broken = isinstance(worker, LockHolder) and worker.broken
        self.acquired = worker.clock.now()
        self.writes = worker.rng.randint(1, 4)
        self.written = 0
        self.told: float | None = None  # monotonic time of the loss notice
        self.refused = False

    def more(self) -> bool:
        """Whether to make another fenced write."""
        if self.worker.halt.is_set() or self.refused:
            return False
        if self.written < self.writes:
            return True
        return self.told is not None and time.monotonic() < self.told + LOCK_TTL + 2

    def lost(self, reason: str | None) -> None:
        w = self.worker
        w.records.loss_notices.append(
            LossNotice(w.label, self.token, w.clock.now(), reason or "lost")
        )
        self.told = time.monotonic()

    def fenced(self) -> tuple[list[Compare], list[Put | Get | Delete | Txn], float]:
        """The next fenced write's compare and put, and its call time."""
        self.written += 1
        value = b"%s/%d/%d" % (self.worker.label.encode(), self.token, self.written)
        compare: list[Compare] = [] if self.broken else [CreateRevision(self.key) == self.token]
        put: list[Put | Get | Delete | Txn] = [Put(FENCED, value)]
        return compare, put, self.worker.clock.now()

    def on_lost(self, session: Session | AsyncSession) -> None:
        self.lost(session.lost_reason)

    def wrote(self, call: float, succeeded: bool, revision: int) -> None:
        w = self.worker
        outcome = "ok" if succeeded else "refused"
        self.refused = not succeeded
        write = FencedWrite(w.label, self.token, call, w.clock.now(), outcome, revision)
        w.records.fenced_writes.append(write)

    def write_failed(self, call: float, err: BaseException) -> None:
        w = self.worker
        outcome = outcome_of(err)
        ret = w.clock.now() if outcome == "failed" else None
        w.records.fenced_writes.append(FencedWrite(w.label, self.token, call, ret, outcome))
        w.stats.count(err)

    def released(self, end: str) -> None:
        w = self.worker
        w.records.acquisitions.append(
            Acquisition(w.label, self.key, self.token, self.acquired, w.clock.now(), end)
        )


class LockHolder(Worker):
    """Acquires the Mutex (a session of its own per holding), writes fenced, releases."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event) -> None:
        super().__init__(name, shared, stop)
        self.broken = shared.broken_lock

    def body(self) -> None:
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                mutex = Mutex(client, LOCK, ttl=LOCK_TTL)
                try:
                    if not mutex.acquire(timeout=2.0):
                        continue
                    holding = Holding(self, mutex.key, mutex.revision)
                except EtcdError as err:  # LockNotHeldError too: lost at once
                    self.failed(err)
                    continue
                session = mutex.session
                assert session is not None
                session.on_lost(holding.on_lost)
                while holding.more():
                    compare, success, call = holding.fenced()
                    try:
                        txn = client.txn(compare, success)
                        holding.wrote(call, txn.succeeded, txn.header.revision)
                    except EtcdError as err:
                        holding.write_failed(call, err)
                    self.pause(0.02, 0.1)
                try:
                    mutex.release()
                    holding.released("released")
                except LockNotHeldError:
                    holding.released("lost")
                except EtcdError as err:
                    holding.released("unknown")
                    self.failed(err)
                if self.broken:
                    self._write_after_release(client, holding)

    def _write_after_release(self, client: Client, holding: Holding) -> None:
        """The broken holder's late writes (unfenced): what fencing exists to stop."""
        for _ in range(2):
            self.pause(0.05, 0.15)
            _, success, call = holding.fenced()
            try:
                txn = client.txn([], success)
                holding.wrote(call, txn.succeeded, txn.header.revision)
            except EtcdError as err:
                holding.write_failed(call, err)


class AsyncLockHolder(Worker):
    """The same as LockHolder through AsyncClient and AsyncMutex."""

    def body(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        async with AsyncClient(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                mutex = AsyncMutex(client, LOCK, ttl=LOCK_TTL)
                try:
                    if not await mutex.acquire(timeout=2.0):
                        continue
                    holding = Holding(self, mutex.key, mutex.revision)
                except EtcdError as err:
                    self.stats.count(err)
                    await asyncio.sleep(0.1)  # back off while the cluster elects
                    continue
                session = mutex.session
                assert session is not None
                session.on_lost(holding.on_lost)
                while holding.more():
                    compare, success, call = holding.fenced()
                    try:
                        txn = await client.txn(compare, success)
                        holding.wrote(call, txn.succeeded, txn.header.revision)
                    except EtcdError as err:
                        holding.write_failed(call, err)
                    await asyncio.sleep(self.rng.uniform(0.02, 0.1))  # the work under the lock
                try:
                    await mutex.release()
                    holding.released("released")
                except LockNotHeldError:
                    holding.released("lost")
                except EtcdError as err:
                    holding.released("unknown")
                    self.stats.count(err)
