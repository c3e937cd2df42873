"""The floor of asyncio clients: the generated stubs on a grpc.aio.insecure_channel.

Nothing but the calls themselves (with the same per-call deadline the clients
use): no retries, no typed errors, no response wrappers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Any

import grpc
import grpc.aio

from benchmarks.workers import harness
from benchmarks.workers.harness import CALL_TIMEOUT
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc


async def _consume(call: Any) -> None:
    """Read a stream's responses (keep-alive answers) until it ends or is cancelled."""
    with contextlib.suppress(grpc.RpcError, asyncio.CancelledError):
        async for _ in call:
            pass


class RawAio:
    packages = ("grpcio", "protobuf")
    lease_note = "one LeaseKeepAlive stream; a task sends each lease's refresh every TTL/3"

    def __init__(self, endpoint: str) -> None:
        self.channel = grpc.aio.insecure_channel(endpoint)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.lease = rpc_pb2_grpc.LeaseStub(self.channel)
        self.watcher = rpc_pb2_grpc.WatchStub(self.channel)
        self.lease_ids: list[int] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._keepalive_call: Any = None

    async def put(self, key: bytes, value: bytes) -> None:
        await self.kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=CALL_TIMEOUT)

    async def get(self, key: bytes) -> bytes | None:
        response = await self.kv.Range(rpc_pb2.RangeRequest(key=key), timeout=CALL_TIMEOUT)
        return response.kvs[0].value if response.kvs else None

    async def watch_prefix(
        self, prefix: bytes, ready: Callable[[], None]
    ) -> AsyncGenerator[int, None]:
        call = self.watcher.Watch()
        create = rpc_pb2.WatchCreateRequest(key=prefix, range_end=harness.prefix_end(prefix))
        await call.write(rpc_pb2.WatchRequest(create_request=create))
        try:
            async for response in call:
                if response.created:
                    ready()
                elif response.events:
                    yield len(response.events)
        finally:
            call.cancel()

    async def hold_leases(self, count: int, ttl: int) -> None:
        call = self._keepalive_call = self.lease.LeaseKeepAlive()
        self._tasks.append(asyncio.create_task(_consume(call)))
        schedule = harness.RefreshSchedule(ttl / 3)
        for _ in range(count):
            response = await self.lease.LeaseGrant(
                rpc_pb2.LeaseGrantRequest(TTL=ttl), timeout=CALL_TIMEOUT
            )
            self.lease_ids.append(response.ID)
            schedule.add(response.ID)

        async def refresh(lease_id: int) -> None:
            await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))

        self._tasks.append(asyncio.create_task(harness.run_refresh_task(schedule, refresh)))

    async def lease_ttls(self, sample: int) -> list[int]:
        ttls = []
        for lease_id in self.lease_ids[:sample]:
            request = rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id)
            ttls.append((await self.lease.LeaseTimeToLive(request, timeout=CALL_TIMEOUT)).TTL)
        return ttls

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._keepalive_call is not None:
            self._keepalive_call.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.channel.close()


async def _open(endpoint: str) -> RawAio:
    return RawAio(endpoint)


if __name__ == "__main__":
    harness.run_async(_open)
