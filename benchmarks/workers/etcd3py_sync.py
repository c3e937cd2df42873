"""etcd3py.Client (the blocking face), used as its documentation shows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator

import etcd3py
from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT
from etcd3py.recipes import Mutex, Session


class Etcd3pySync:
    packages = ("etcd3py", "grpcio", "protobuf")
    lease_note = "client.keep_alive(lease) for each lease (one shared LeaseKeepAlive stream)"
    lock_note = harness.ETCD3PY_LOCK_NOTE.format(
        api="one Session(client, ttl) per thread, started once; `with Mutex(session, name)`"
    )

    def __init__(self, endpoint: str) -> None:
        self.client = etcd3py.Client(endpoint, timeout=CALL_TIMEOUT)
        self.leases: list[etcd3py.Lease] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.client.put(key, value)

    def get(self, key: bytes) -> bytes | None:
        return self.client.get(key).value

    def watch_prefix(self, prefix: bytes, ready: Callable[[], None]) -> Generator[int, None, None]:
        with self.client.watch(prefix, prefix=True) as watch:
            ready()
            for response in watch:
                yield len(response.events)

    def hold_leases(self, count: int, ttl: int) -> None:
        for _ in range(count):
            lease = self.client.grant(ttl)
            self.client.keep_alive(lease)
            self.leases.append(lease)

    def lease_ttls(self, sample: int) -> list[int]:
        lost = [lease for lease in self.leases if lease.lost]
        if lost:
            raise RuntimeError(f"{len(lost)} leases lost, e.g. {lost[0]!r}")
        return [lease.time_to_live().ttl for lease in self.leases[:sample]]

    @contextlib.contextmanager
    def mutex_contender(self, name: str, ttl: int) -> Iterator[Callable[[], Mutex]]:
        with Session(self.client, ttl=ttl) as session:
            yield lambda: Mutex(session, name)

    def close(self) -> None:
        self.client.close()


if __name__ == "__main__":
    harness.run_sync(Etcd3pySync)
