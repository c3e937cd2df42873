"""The client's OpenTelemetry metrics, read with the SDK's in-memory metric reader.

The reader's sums are cumulative over the test worker, so each test compares what it
finds after its own calls with what was there before them.
"""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from etcd3py import AsyncClient, LeaseNotFoundError
from etcd3py.recipes import AsyncMutex
from tests.conftest import Restartable
from tests.support.backends import Backend
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio

Points = dict[tuple[str, frozenset[tuple[str, object]]], float]


def points(reader: InMemoryMetricReader) -> Points:
    """(metric name, attributes) -> a sum's value, or a histogram's count."""
    found: Points = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "count", None)
                    if value is None:
                        value = point.value  # type: ignore[union-attr]
                    found[(metric.name, frozenset((point.attributes or {}).items()))] = value
    return found


def grown(before: Points, after: Points, name: str, **attributes: object) -> float:
    key = (name, frozenset(attributes.items()))
    return after.get(key, 0) - before.get(key, 0)


def total(found: Points, name: str) -> float:
    return sum(value for (metric, _), value in found.items() if metric == name)


async def test_each_call_is_measured_by_method_and_outcome(
    aclient: AsyncClient, prefix: bytes, metric_reader: InMemoryMetricReader
) -> None:
    before = points(metric_reader)
    await aclient.put(prefix + b"k", "v")
    await aclient.get(prefix + b"k")
    with pytest.raises(LeaseNotFoundError):
        await aclient.revoke(0x7E57)
    after = points(metric_reader)
    name = "etcd3py.client.call.duration"
    assert (
        grown(before, after, name, **{"rpc.method": "etcdserverpb.KV/Put", "etcd3py.outcome": "ok"})
        == 1
    )
    assert (
        grown(
            before, after, name, **{"rpc.method": "etcdserverpb.KV/Range", "etcd3py.outcome": "ok"}
        )
        == 1
    )
    refused = {
        "rpc.method": "etcdserverpb.Lease/LeaseRevoke",
        "etcd3py.outcome": "LeaseNotFoundError",
    }
    assert grown(before, after, name, **refused) == 1


async def test_a_retry_on_another_endpoint_counts_as_a_failover(
    backend: Backend, prefix: bytes, metric_reader: InMemoryMetricReader
) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nobody listens: the read moves on
    async with AsyncClient([dead, backend.endpoint], lb_policy="pick_first", timeout=10) as client:
        before = points(metric_reader)
        await client.get(prefix + b"k")
        after = points(metric_reader)
    assert grown(before, after, "etcd3py.client.failovers", **{"etcd.endpoint": dead}) == 1
    assert (
        grown(before, after, "etcd3py.client.retries", **{"rpc.method": "etcdserverpb.KV/Range"})
        >= 1
    )


async def test_a_broken_watch_stream_is_reopened_and_its_watch_resumed(
    restartable: Restartable, prefix: bytes, metric_reader: InMemoryMetricReader
) -> None:
    async with (
        AsyncClient(restartable.endpoint, timeout=5) as client,
        client.watch(prefix, prefix=True) as watch,
    ):
        before = points(metric_reader)
        restartable.kill()
        restartable.revive()
        await client.put(prefix + b"k", "v")
        assert [e.key for e in await watch.events(timeout=30)] == [prefix + b"k"]
        after = points(metric_reader)
    assert (
        grown(
            before,
            after,
            "etcd3py.client.stream.reopens",
            **{"rpc.method": "etcdserverpb.Watch/Watch"},
        )
        >= 1
    )
    assert grown(before, after, "etcd3py.client.watch.resumes") >= 1


async def test_keep_alive_round_trips_and_a_lost_lease_are_measured(
    aclient: AsyncClient, backend: Backend, metric_reader: InMemoryMetricReader
) -> None:
    before = points(metric_reader)
    lease = await aclient.grant(3)
    aclient.keep_alive(lease)
    deadline = time.monotonic() + 10
    while total(points(metric_reader), "etcd3py.client.lease.keepalive.duration") <= total(
        before, "etcd3py.client.lease.keepalive.duration"
    ):
        assert time.monotonic() < deadline, "no keep-alive answered within 10 s"
        await aclient.get(b"wait")  # a round trip, not a sleep: the renewal is 1 s away
    async with AsyncClient(backend.endpoint) as other:
        await other.revoke(lease.id)  # behind the keeper's back: it finds the lease gone
    assert await lease.wait_lost(timeout=5)
    after = points(metric_reader)
    assert grown(before, after, "etcd3py.client.lease.losses", **{"etcd3py.reason": "expired"}) == 1


async def test_the_wait_for_a_mutex_is_measured(
    aclient: AsyncClient, prefix: bytes, metric_reader: InMemoryMetricReader
) -> None:
    before = points(metric_reader)
    async with AsyncMutex(aclient, prefix + b"lock", ttl=5):
        pass
    after = points(metric_reader)
    attributes = {"etcd3py.recipe": "mutex", "etcd3py.outcome": "acquired"}
    assert grown(before, after, "etcd3py.recipes.lock.wait", **attributes) == 1
