"""An OpenTelemetry span per RPC attempt, checked with the SDK's in-memory exporter."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from etcd3py import AsyncClient, LeaseNotFoundError
from tests.support.backends import Backend
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    span_exporter.clear()
    return span_exporter


def etcd_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("etcdserverpb.")]


async def test_a_span_per_call(
    aclient: AsyncClient, backend: Backend, prefix: bytes, spans: InMemorySpanExporter
) -> None:
    await aclient.put(prefix + b"k", "v")
    await aclient.get(prefix + b"k")
    put, get = etcd_spans(spans)
    assert (put.name, get.name) == ("etcdserverpb.KV/Put", "etcdserverpb.KV/Range")
    assert put.kind == SpanKind.CLIENT
    attributes = dict(put.attributes or {})
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == "etcdserverpb.KV"
    assert attributes["rpc.method"] == "Put"
    assert attributes["etcd.endpoint"] == backend.endpoint
    host, port = backend.endpoint.rsplit(":", 1)
    assert (attributes["server.address"], attributes["server.port"]) == (host, int(port))
    assert put.status.status_code != StatusCode.ERROR


async def test_a_failed_call_is_marked(aclient: AsyncClient, spans: InMemorySpanExporter) -> None:
    with pytest.raises(LeaseNotFoundError):
        await aclient.revoke(0x7E57)
    (span,) = etcd_spans(spans)
    assert span.name == "etcdserverpb.Lease/LeaseRevoke"
    assert span.status.status_code == StatusCode.ERROR
    assert any(e.name == "exception" for e in span.events)


async def test_every_attempt_has_a_span(backend: Backend, spans: InMemorySpanExporter) -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with AsyncClient([dead, backend.endpoint], lb_policy="pick_first") as client:
        await client.get("k")
    attempts = etcd_spans(spans)
    assert [s.attributes["etcd.endpoint"] for s in attempts if s.attributes] == [
        dead,
        backend.endpoint,
    ]
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert dict(attempts[1].attributes or {}).get("etcd.attempt") == 2
