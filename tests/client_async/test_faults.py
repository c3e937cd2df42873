"""Faults are real: the server is crashed and restarted under a watch and a lease.

On etcd: kill -9 of a dedicated member, restarted on the same data directory and
port. On server_ref: its gRPC server stopped at once and started again on the same
state (EmbeddedServer.kill / revive).
"""

from __future__ import annotations

import time

import pytest

from etcd3py import AsyncClient, EventType, LeaseLostError
from tests.conftest import Restartable
from tests.support.writer import ExactlyOnceWriter

pytestmark = pytest.mark.anyio

KEYS = 60


async def test_watch_sees_exactly_the_history_across_a_crash(
    restartable: Restartable, prefix: bytes
) -> None:
    async with AsyncClient(restartable.endpoint, timeout=5) as client:
        async with client.watch(prefix, prefix=True) as watch:
            writer = ExactlyOnceWriter(restartable.endpoint, prefix, KEYS)
            writer.start()
            writer.wait_for(KEYS // 3)
            restartable.kill()  # in the middle of the stream of writes
            restartable.revive()
            seen: list[tuple[bytes, int]] = []
            deadline = time.monotonic() + 60
            while len(seen) < KEYS and time.monotonic() < deadline:
                for event in await watch.events(timeout=30):
                    assert event.type == EventType.PUT
                    seen.append((event.key, event.revision))
            writer.join(60)
            assert writer.failure is None
        history = await client.get(prefix, prefix=True, sort_target="mod", sort_order="ascend")
    expected = [(kv.key, kv.mod_revision) for kv in history.kvs]
    assert [kv.version for kv in history.kvs] == [1] * KEYS  # each key written once
    assert seen == expected  # every event, once, in revision order


async def test_lease_kept_through_a_short_outage(restartable: Restartable, prefix: bytes) -> None:
    async with (
        AsyncClient(restartable.endpoint, timeout=2) as client,
        client.lease(10) as lease,
    ):
        await client.put(prefix + b"k", "v", lease=lease)
        restartable.kill()
        restartable.revive()  # back well within the TTL
        deadline = time.monotonic() + 10
        # the keep-alive stream comes back by itself and renews the lease
        while (await lease.time_to_live()).ttl < 9 and time.monotonic() < deadline:
            await client.get(prefix + b"k")
        assert (await lease.time_to_live()).ttl >= 9 and not lease.lost
        assert (await client.get(prefix + b"k")).count == 1


async def test_lease_lost_in_a_long_outage_is_reported(
    restartable: Restartable, prefix: bytes
) -> None:
    async with AsyncClient(restartable.endpoint, timeout=1) as client:
        lease = await client.grant(2)
        client.keep_alive(lease)
        restartable.kill()
        try:
            # nothing can confirm the lease: within its TTL the client says it is lost
            assert await lease.wait_lost(timeout=2 + 2)
            assert lease.lost_reason is not None and "within its 2s TTL" in lease.lost_reason
        finally:
            restartable.revive()
        with pytest.raises(LeaseLostError):
            await client.put(prefix + b"k", "v", lease=lease)
