"""Leases through the client: grant, keep-alive over one stream, loss reported loudly."""

from __future__ import annotations

import time
from typing import Any

import pytest

from etcd3py import (
    AsyncClient,
    AsyncLease,
    LeaseLostError,
    LeaseNotFoundError,
    LeaseTTLTooLargeError,
)
from etcd3py._methods import LEASE_KEEP_ALIVE
from tests.support.backends import Backend

pytestmark = pytest.mark.anyio

MIN_TTL = 2


async def test_grant_inspect_revoke(aclient: AsyncClient, prefix: bytes) -> None:
    lease = await aclient.grant(30)
    assert isinstance(lease, AsyncLease) and lease.ttl == 30 and lease.id > 0
    assert lease.id in await aclient.leases()
    await aclient.put(prefix + b"k", "v", lease=lease)
    info = await lease.time_to_live(keys=True)
    assert info.id == lease.id and info.granted_ttl == 30 and 25 <= info.ttl <= 30
    assert info.keys == [prefix + b"k"]
    assert (await aclient.time_to_live(lease.id)).granted_ttl == 30
    await lease.revoke()
    assert (await aclient.get(prefix + b"k")).count == 0
    assert lease.id not in await aclient.leases()
    assert (await aclient.time_to_live(lease.id)).ttl == -1


async def test_grant_rules(aclient: AsyncClient) -> None:
    short = await aclient.grant(1)
    assert short.ttl == MIN_TTL  # etcd raises it to its minimum
    await short.revoke()
    with pytest.raises(LeaseTTLTooLargeError):
        await aclient.grant(9_000_000_001)
    with pytest.raises(LeaseNotFoundError):
        await aclient.revoke(0x7E57)


async def test_refresh(aclient: AsyncClient) -> None:
    lease = await aclient.grant(30)
    try:
        assert await lease.refresh() == 30
    finally:
        await lease.revoke()


async def test_lease_block_keeps_it_alive_then_revokes(aclient: AsyncClient, prefix: bytes) -> None:
    async with aclient.lease(MIN_TTL) as lease:
        await aclient.put(prefix + b"k", "v", lease=lease)
        deadline = time.monotonic() + 2.5 * MIN_TTL
        while time.monotonic() < deadline:  # outlive the TTL twice over
            assert (await lease.time_to_live()).ttl > 0
            assert not lease.lost
            await _pause(0.5)
        assert (await aclient.get(prefix + b"k")).count == 1
    assert (await aclient.get(prefix + b"k")).count == 0
    assert lease.lost and lease.lost_reason == "revoked"


async def test_loss_is_reported(aclient: AsyncClient, prefix: bytes) -> None:
    lost: list[int] = []
    async with aclient.lease(MIN_TTL) as lease:
        lease.on_lost(lambda lz: lost.append(lz.id))
        await aclient.revoke(lease.id)  # as if someone else revoked it
        assert await lease.wait_lost(timeout=MIN_TTL + 1)
        assert lost == [lease.id]
        assert lease.lost_reason is not None and "does not know the lease" in lease.lost_reason
        with pytest.raises(LeaseLostError) as info:
            await aclient.put(prefix + b"k", "v", lease=lease)
        assert info.value.lease_id == lease.id
        with pytest.raises(LeaseLostError):
            await lease.refresh()
        with pytest.raises(LeaseLostError):
            await lease.time_to_live()
    late: list[int] = []
    lease.on_lost(lambda lz: late.append(lz.id))  # registered after the loss: runs at once
    assert late == [lease.id]
    assert (await aclient.get(prefix + b"k")).count == 0


async def test_all_leases_share_one_stream(
    aclient: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    transport = aclient._transport
    original = transport.open_stream

    async def counting(method: Any) -> Any:
        if method is LEASE_KEEP_ALIVE:
            opened.append(method)
        return await original(method)

    monkeypatch.setattr(transport, "open_stream", counting)
    leases = [await aclient.grant(MIN_TTL) for _ in range(20)]
    try:
        for lease in leases:
            aclient.keep_alive(lease)
        deadline = time.monotonic() + 1.5 * MIN_TTL
        while time.monotonic() < deadline:
            await _pause(0.5)
        assert not any(lease.lost for lease in leases)
        for lease in leases[:3]:
            assert (await lease.time_to_live()).ttl > 0
        assert len(opened) == 1
    finally:
        for lease in leases:
            await lease.revoke()


async def _pause(seconds: float) -> None:
    """Let time pass on purpose (the lease TTL is the thing under test)."""
    from etcd3py._async._primitives import sleep

    await sleep(seconds)


async def test_existing_lease_adopts_a_lease_granted_elsewhere(
    aclient: AsyncClient, backend: Backend
) -> None:
    """A lease known only by its id (granted by another client) is renewed, kept alive
    and seen lost like one of ours; an id etcd does not hold is refused by name."""
    async with AsyncClient(backend.endpoint) as other:
        granted = await other.grant(30)
        adopted = await aclient.existing_lease(granted.id)
        assert (adopted.id, adopted.ttl) == (granted.id, 30)
        assert await adopted.refresh() == 30
        aclient.keep_alive(adopted)
        await other.revoke(granted.id)
        assert await adopted.wait_lost(timeout=15)
    with pytest.raises(LeaseNotFoundError, match="requested lease not found"):
        await aclient.existing_lease(granted.id)
