"""etcd3py.AsyncClient, used as its documentation shows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import etcd3py
from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT
from etcd3py.recipes import AsyncMutex, AsyncSession


class Etcd3pyAsync:
    packages = ("etcd3py", "grpcio", "protobuf")
    lease_note = "client.keep_alive(lease) for each lease (one shared LeaseKeepAlive stream)"
    lock_note = harness.ETCD3PY_LOCK_NOTE.format(
        api="one AsyncSession(client, ttl) per task, started once; "
        "`async with AsyncMutex(session, name)`"
    )

    def __init__(self, endpoint: str) -> None:
        self.client = etcd3py.AsyncClient(endpoint, timeout=CALL_TIMEOUT)
        self.leases: list[etcd3py.AsyncLease] = []

    async def put(self, key: bytes, value: bytes) -> None:
        await self.client.put(key, value)

    async def get(self, key: bytes) -> bytes | None:
        return (await self.client.get(key)).value

    async def watch_prefix(
        self, prefix: bytes, ready: Callable[[], None]
    ) -> AsyncGenerator[int, None]:
        async with self.client.watch(prefix, prefix=True) as watch:
            ready()
            async for response in watch:
                yield len(response.events)

    async def hold_leases(self, count: int, ttl: int) -> None:
        for _ in range(count):
            lease = await self.client.grant(ttl)
            self.client.keep_alive(lease)
            self.leases.append(lease)

    async def lease_ttls(self, sample: int) -> list[int]:
        lost = [lease for lease in self.leases if lease.lost]
        if lost:
            raise RuntimeError(f"{len(lost)} leases lost, e.g. {lost[0]!r}")
        return [(await lease.time_to_live()).ttl for lease in self.leases[:sample]]

    @contextlib.asynccontextmanager
    async def mutex_contender(self, name: str, ttl: int) -> AsyncIterator[Callable[[], AsyncMutex]]:
        async with AsyncSession(self.client, ttl=ttl) as session:
            yield lambda: AsyncMutex(session, name)

    async def close(self) -> None:
        await self.client.close()


async def _open(endpoint: str) -> Etcd3pyAsync:
    return Etcd3pyAsync(endpoint)


if __name__ == "__main__":
    harness.run_async(_open)
