"""etcd3aio (PyPI "etcd3aio", asyncio on grpc.aio), run under its own virtualenv.

Keep-alive is etcd3aio's own: ``client.lease.keep_alive_context(id, ttl)`` per lease,
a task each that opens a short LeaseKeepAlive stream every TTL/3.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import etcd3aio  # type: ignore[import-not-found]

from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT


class Etcd3aio:
    packages = ("etcd3aio", "grpcio", "protobuf")
    lease_note = (
        "client.lease.keep_alive_context(id, ttl) entered for each lease: one task per "
        "lease, each opening a short LeaseKeepAlive stream every TTL/3"
    )
    lock_note = (
        "one client shared by the tasks; per holding `async with client.lock(name, ttl=...)` "
        "(no acquire timeout). Each acquire grants a lease, puts <name>/<lease>, reads the "
        "prefix and watches the key just before its own until it is deleted (a new watch "
        "stream per wait); release deletes the key and revokes the lease"
    )

    def __init__(self, client: Any) -> None:
        self.client = client
        self.lease_ids: list[int] = []
        self._keepers = contextlib.AsyncExitStack()

    async def put(self, key: bytes, value: bytes) -> None:
        await self.client.kv.put(key, value, timeout=CALL_TIMEOUT)

    async def get(self, key: bytes) -> bytes | None:
        found = await self.client.kv.get(key, timeout=CALL_TIMEOUT)
        return found.kvs[0].value if found.kvs else None

    async def watch_prefix(
        self, prefix: bytes, ready: Callable[[], None]
    ) -> AsyncGenerator[int, None]:
        stream = self.client.watch.watch(prefix, range_end=harness.prefix_end(prefix))
        try:
            async for response in stream:
                if response.created:
                    ready()
                if response.events:
                    yield len(response.events)
        finally:
            await stream.aclose()

    async def hold_leases(self, count: int, ttl: int) -> None:
        for _ in range(count):
            lease_id = int((await self.client.lease.grant(ttl=ttl, timeout=CALL_TIMEOUT)).ID)
            self.lease_ids.append(lease_id)
            await self._keepers.enter_async_context(
                self.client.lease.keep_alive_context(lease_id, ttl)
            )

    async def lease_ttls(self, sample: int) -> list[int]:
        return [
            int((await self.client.lease.time_to_live(i, timeout=CALL_TIMEOUT)).TTL)
            for i in self.lease_ids[:sample]
        ]

    @contextlib.asynccontextmanager
    async def mutex_contender(
        self, name: str, ttl: int
    ) -> AsyncIterator[Callable[[], contextlib.AbstractAsyncContextManager[bool]]]:
        yield lambda: self._holding(name, ttl)

    @contextlib.asynccontextmanager
    async def _holding(self, name: str, ttl: int) -> AsyncIterator[bool]:
        async with self.client.lock(name, ttl=ttl):
            yield True

    async def close(self) -> None:
        await self._keepers.aclose()
        with contextlib.suppress(asyncio.CancelledError):
            await self.client.close()


async def _open(endpoint: str) -> Etcd3aio:
    client = etcd3aio.Etcd3Client([endpoint])
    await client.connect()
    return Etcd3aio(client)


if __name__ == "__main__":
    harness.run_async(_open)
