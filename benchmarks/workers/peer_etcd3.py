"""python-etcd3 (PyPI "etcd3" 0.12.0), run under its own virtualenv (protobuf 3.x).

It has no background keep-alive: a thread calls ``client.refresh_lease(id)`` -- one
short LeaseKeepAlive stream per call, the only refresh its API offers -- for each
lease every TTL/3, the cadence etcd3py's keep-alive uses.

Its lock (etcd3/locks.py) needs tenacity < 7 (kragniz/python-etcd3#1543): with the
tenacity pip installs today, the first acquire that has to wait raises TypeError
(its wait callback has tenacity 5's signature). The virtualenv pins tenacity 6.x.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

import etcd3  # type: ignore[import-not-found]

from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT, LOCK_TIMEOUT


class PythonEtcd3:
    packages = ("etcd3", "grpcio", "protobuf")
    lease_note = (
        "no background keep-alive in python-etcd3: a thread calls "
        "client.refresh_lease(id) (one short stream per call) for each lease every TTL/3"
    )
    lock_note = (
        "one client shared by the threads; per holding client.lock(name, ttl), "
        f"acquire(timeout={LOCK_TIMEOUT:g}) checked (its `with` ignores a False), release(). "
        "One key /locks/<name>: each attempt grants a new lease and tries a create txn; "
        "a loser watches that key with watch_once (no start revision, any event, PUT or "
        "DELETE) and retries when it fires: every release and every new holder wakes every "
        "waiter (herd), and a release landing between a loser's txn and its watch is "
        "missed (it waits for the next event on the key, or its timeout). The leases of "
        "failed attempts are never revoked, nor the holder's at release"
    )

    def __init__(self, endpoint: str) -> None:
        host, port = endpoint.rsplit(":", 1)
        self.client: Any = etcd3.client(host=host, port=int(port), timeout=CALL_TIMEOUT)
        self.lease_ids: list[int] = []
        self._stop = threading.Event()

    def put(self, key: bytes, value: bytes) -> None:
        self.client.put(key, value)

    def get(self, key: bytes) -> bytes | None:
        value, _ = self.client.get(key)
        return value  # type: ignore[no-any-return]

    def watch_prefix(self, prefix: bytes, ready: Callable[[], None]) -> Generator[int, None, None]:
        events, cancel = self.client.watch_prefix(prefix)  # returns once the watch is created
        ready()
        try:
            for _ in events:
                yield 1
        finally:
            cancel()

    def hold_leases(self, count: int, ttl: int) -> None:
        schedule = harness.RefreshSchedule(ttl / 3)
        for _ in range(count):
            lease_id = self.client.lease(ttl).id
            self.lease_ids.append(lease_id)
            schedule.add(lease_id)

        def refresh(lease_id: int) -> None:
            list(self.client.refresh_lease(lease_id))

        threading.Thread(
            target=harness.run_refresh_loop, args=(schedule, refresh, self._stop), daemon=True
        ).start()

    def lease_ttls(self, sample: int) -> list[int]:
        return [self.client.get_lease_info(i).TTL for i in self.lease_ids[:sample]]

    @contextlib.contextmanager
    def mutex_contender(
        self, name: str, ttl: int
    ) -> Iterator[Callable[[], contextlib.AbstractContextManager[bool]]]:
        yield lambda: self._holding(name, ttl)

    @contextlib.contextmanager
    def _holding(self, name: str, ttl: int) -> Iterator[bool]:
        lock = self.client.lock(name, ttl=ttl)
        if not lock.acquire(timeout=LOCK_TIMEOUT):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def close(self) -> None:
        self._stop.set()
        self.client.close()


if __name__ == "__main__":
    harness.run_sync(PythonEtcd3)
