"""Every error a test can provoke, on both servers: the typed class, the gRPC cause."""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from etcd3py import (
    AsyncClient,
    CompactedError,
    ConnectionFailedError,
    DeadlineExceededError,
    DuplicateKeyError,
    EtcdError,
    FutureRevisionError,
    KeyNotFoundError,
    LeaseExistsError,
    LeaseNotFoundError,
    LeaseTTLTooLargeError,
    OutOfRangeError,
    Put,
    RequestTooLargeError,
    TooManyOpsError,
    UnavailableError,
)
from tests.support.servers import StalledServer, free_port

pytestmark = pytest.mark.anyio


async def fails_with(
    cls: type[EtcdError], call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
) -> EtcdError:
    """Call ``call(*args, **kwargs)``; it must raise exactly ``cls``, chained to gRPC."""
    with pytest.raises(cls) as info:
        await call(*args, **kwargs)
    error = info.value
    assert type(error) is cls
    assert isinstance(error.__cause__, grpc.RpcError)
    assert error.code == error.__cause__.code()
    return error


async def test_server_errors_are_typed(aclient: AsyncClient, prefix: bytes) -> None:
    k = prefix + b"k"
    await fails_with(KeyNotFoundError, aclient.put, k, "", ignore_value=True)
    await fails_with(TooManyOpsError, aclient.txn, success=[Put(k + b"%d" % i) for i in range(129)])
    await fails_with(DuplicateKeyError, aclient.txn, success=[Put(k), Put(k)])
    r1 = (await aclient.put(k, "1")).header.revision
    r2 = (await aclient.put(k, "2")).header.revision
    await aclient.compact(r2)
    compacted = await fails_with(CompactedError, aclient.get, k, revision=r1)
    assert isinstance(compacted, OutOfRangeError)
    await fails_with(FutureRevisionError, aclient.get, k, revision=r2 + 10_000)
    await fails_with(LeaseNotFoundError, aclient.revoke, 0x7E57)
    await fails_with(LeaseTTLTooLargeError, aclient.grant, 9_000_000_001)
    lease = await aclient.grant(30)
    try:
        await fails_with(LeaseExistsError, aclient.grant, 30, lease_id=lease.id)
    finally:
        await lease.revoke()
    await fails_with(RequestTooLargeError, aclient.put, k, b"x" * (1600 * 1024))


async def test_client_deadline() -> None:
    """A server that is reached but does not answer in time: the call's own deadline."""
    with StalledServer() as stalled:
        async with AsyncClient(stalled.endpoint, timeout=0.3) as client:
            with pytest.raises(DeadlineExceededError) as info:
                await client.get("k")
            assert isinstance(info.value, TimeoutError)
            assert not isinstance(info.value, ConnectionFailedError)
            assert isinstance(info.value.__cause__, grpc.RpcError)
            assert str(info.value).startswith("get 'k': ")
            assert f"(endpoint {stalled.endpoint})" in str(info.value)
            with pytest.raises(DeadlineExceededError):  # a per-call timeout, too
                await client.put("k", "v", timeout=0.2)


async def test_unreachable_endpoint() -> None:
    """No endpoint reachable: ConnectionFailedError, naming the endpoints tried."""
    endpoints = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    async with AsyncClient(endpoints, timeout=0.5) as dead:
        with pytest.raises(ConnectionFailedError) as info:
            await dead.get("k")
        assert isinstance(info.value, UnavailableError)
        assert "no endpoint could be reached" in str(info.value)
        assert set(info.value.endpoints) == set(endpoints)
        assert all(e in str(info.value) for e in endpoints)
        # a write that never left the client is retried as long as the deadline allows,
        # and reported the same way
        with pytest.raises(ConnectionFailedError):
            await dead.put("k", "v")
        # so is a watch that cannot be created: not a timeout of its own
        with pytest.raises(ConnectionFailedError) as watching:
            await dead.watch("k").start(timeout=1.0)
        assert watching.value.operation == "watch 'k'"
        assert watching.value.endpoints and set(watching.value.endpoints) <= set(endpoints)


async def test_a_refused_call_names_what_failed_where(aclient: AsyncClient, prefix: bytes) -> None:
    with pytest.raises(LeaseNotFoundError) as info:
        await aclient.put(prefix + b"k", "v", lease=0x7E57)
    error = info.value
    assert str(error) == (
        f"put {prefix.decode() + 'k'!r}: etcdserver: requested lease not found "
        f"(endpoint {aclient.endpoints[0]})"
    )
    assert error.details == "etcdserver: requested lease not found"
    lines = "".join(traceback.format_exception(error)).splitlines()
    assert not any("grpc/_channel.py" in line or "grpc/aio/" in line for line in lines)
    assert len(lines) < 25, "\n".join(lines)  # short: gRPC's own frames left out
