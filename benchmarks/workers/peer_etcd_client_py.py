"""etcd-client-py (PyPI "etcd-client-py": etcd-client, a Rust crate, through PyO3; asyncio).

Its calls run on a Tokio runtime in Rust threads and resolve Python awaitables. No
lease workload: ``lease_grant`` returns nothing (no lease id) in 0.5.1, so a lease
it grants cannot be refreshed or looked up (see peers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import etcd_client  # type: ignore[import-not-found]

from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT, LOCK_TIMEOUT


class EtcdClientPy:
    packages = ("etcd-client-py",)
    lease_note = "not measured: lease_grant returns no lease id in 0.5.1"
    lock_note = (
        "per holding `async with client.with_lock(EtcdLockOption(name, "
        f"timeout={LOCK_TIMEOUT:g}, ttl=...))`: the library's own lock context (etcd's "
        "Lock RPC on a lease it grants), which opens a connection of its own per holding"
    )

    def __init__(self, client: Any, communicator: Any, endpoint: str) -> None:
        self.client, self.comm, self.endpoint = client, communicator, endpoint
        self._session: Any = None

    async def put(self, key: bytes, value: bytes) -> None:
        await self.comm.put(key, value)

    async def get(self, key: bytes) -> bytes | None:
        found: bytes | None = await self.comm.get(key)
        return found

    async def watch_prefix(
        self, prefix: bytes, ready: Callable[[], None]
    ) -> AsyncGenerator[int, None]:
        created = etcd_client.CondVar()
        watch = self.comm.watch_prefix(prefix, ready_event=created)
        events = watch.__aiter__()
        first = asyncio.ensure_future(events.__anext__())
        await created.wait()
        ready()
        try:
            await first
            yield 1
            async for _ in events:
                yield 1
        finally:
            first.cancel()

    async def hold_leases(self, count: int, ttl: int) -> None:
        raise SystemExit(self.lease_note)

    async def lease_ttls(self, sample: int) -> list[int]:
        return []

    @contextlib.asynccontextmanager
    async def mutex_contender(
        self, name: str, ttl: int
    ) -> AsyncIterator[Callable[[], contextlib.AbstractAsyncContextManager[bool]]]:
        yield lambda: self._holding(name.encode(), ttl)

    @contextlib.asynccontextmanager
    async def _holding(self, name: bytes, ttl: int) -> AsyncIterator[bool]:
        option = etcd_client.EtcdLockOption(name, timeout=LOCK_TIMEOUT, ttl=ttl)
        async with self.client.with_lock(option):
            yield True

    async def close(self) -> None:
        await self._session.__aexit__(None, None, None)


async def _open(endpoint: str) -> EtcdClientPy:
    options = etcd_client.ConnectOptions().with_timeout(CALL_TIMEOUT)
    client = etcd_client.Client([endpoint], options)
    session = client.connect()
    communicator = await session.__aenter__()
    adapter = EtcdClientPy(client, communicator, endpoint)
    adapter._session = session
    return adapter


if __name__ == "__main__":
    harness.run_async(_open)
