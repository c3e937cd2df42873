"""aetcd (PyPI "aetcd", asyncio), run under its own virtualenv.

aetcd has no background keep-alive either: a task awaits ``client.refresh_lease(id)``
(one short LeaseKeepAlive stream per call) for each lease every TTL/3.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import aetcd  # type: ignore[import-not-found]

from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT, LOCK_TIMEOUT


class Aetcd:
    packages = ("aetcd", "grpcio", "protobuf")
    lease_note = (
        "no background keep-alive in aetcd: a task awaits "
        "client.refresh_lease(id) (one short stream per call) for each lease every TTL/3"
    )
    lock_note = (
        "one client shared by the tasks; per holding client.lock(key, ttl), "
        f"await acquire(timeout={LOCK_TIMEOUT:g}) checked (its `async with` ignores a "
        "False), await release(). One key: each attempt grants a new lease and tries a "
        "create txn; a loser watches that key for its DELETE from the holder's revision "
        "+ 1 (watch_once: no missed release) and retries: every release wakes every "
        "waiter (herd), who all race the txn again. The leases of failed attempts are "
        "never revoked, nor the holder's at release"
    )

    def __init__(self, client: Any) -> None:
        self.client = client
        self.lease_ids: list[int] = []
        self._refresher: asyncio.Task[None] | None = None

    async def put(self, key: bytes, value: bytes) -> None:
        await self.client.put(key, value)

    async def get(self, key: bytes) -> bytes | None:
        found = await self.client.get(key)
        return None if found is None else found.value

    async def watch_prefix(
        self, prefix: bytes, ready: Callable[[], None]
    ) -> AsyncGenerator[int, None]:
        watch = await self.client.watch_prefix(prefix)  # returns once the watch is created
        ready()
        try:
            async for _ in watch:
                yield 1
        finally:
            await watch.cancel()

    async def hold_leases(self, count: int, ttl: int) -> None:
        schedule = harness.RefreshSchedule(ttl / 3)
        for _ in range(count):
            lease_id = (await self.client.lease(ttl)).id
            self.lease_ids.append(lease_id)
            schedule.add(lease_id)
        self._refresher = asyncio.create_task(
            harness.run_refresh_task(schedule, self.client.refresh_lease)
        )

    async def lease_ttls(self, sample: int) -> list[int]:
        return [
            (await self.client.get_lease_info(i, keys=False)).TTL for i in self.lease_ids[:sample]
        ]

    @contextlib.asynccontextmanager
    async def mutex_contender(
        self, name: str, ttl: int
    ) -> AsyncIterator[Callable[[], contextlib.AbstractAsyncContextManager[bool]]]:
        yield lambda: self._holding(name.encode(), ttl)

    @contextlib.asynccontextmanager
    async def _holding(self, key: bytes, ttl: int) -> AsyncIterator[bool]:
        lock = self.client.lock(key, ttl=ttl)
        if not await lock.acquire(timeout=LOCK_TIMEOUT):
            yield False
            return
        try:
            yield True
        finally:
            await lock.release()

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.client.close()


async def _open(endpoint: str) -> Aetcd:
    host, port = endpoint.rsplit(":", 1)
    client = aetcd.Client(host=host, port=int(port), timeout=CALL_TIMEOUT)
    await client.connect()
    return Aetcd(client)


if __name__ == "__main__":
    harness.run_async(_open)
