"""OpenTelemetry metrics through opentelemetry-api only: what the operator of a service
on etcd wants to see of its client (calls and their latency, retries, failovers,
stream re-opens, resumed watches, lease keep-alives and losses).

Without an SDK meter provider nothing is recorded: each hook then costs one check, as
the tracing does. The names and attributes are part of the documented API
(docs/observability.md); change them only with a release note.
"""

from __future__ import annotations

import os

from opentelemetry import metrics

from ._methods import Method

try:  # where opentelemetry-api keeps the global provider (private, hence guarded)
    from opentelemetry.metrics import _internal as _api

    _ASK_PUBLIC_API = bool(os.environ.get("OTEL_PYTHON_METER_PROVIDER")) or not hasattr(
        _api, "_METER_PROVIDER"
    )
    _PROXY: type | None = _api._ProxyMeterProvider
except (ImportError, AttributeError):  # another layout: ask the public API every time
    _api = None  # type: ignore[assignment]
    _ASK_PUBLIC_API = True
    _PROXY = None

_meter = metrics.get_meter("etcd3py")
# instruments of the proxy meter start recording once an application sets a provider
CALL_DURATION = _meter.create_histogram(
    "etcd3py.client.call.duration",
    unit="s",
    description="Unary calls, retries included, by method and outcome",
)
RETRIES = _meter.create_counter(
    "etcd3py.client.retries",
    unit="{attempt}",
    description="Attempts of a call after its first, by method",
)
FAILOVERS = _meter.create_counter(
    "etcd3py.client.failovers",
    unit="{failover}",
    description="Calls moved to another endpoint after one failed, by the endpoint left",
)
STREAM_REOPENS = _meter.create_counter(
    "etcd3py.client.stream.reopens",
    unit="{stream}",
    description="Watch and keep-alive streams opened again after they broke",
)
WATCH_RESUMES = _meter.create_counter(
    "etcd3py.client.watch.resumes",
    unit="{watch}",
    description="Watches created again on a new stream from their next revision",
)
KEEPALIVE_DURATION = _meter.create_histogram(
    "etcd3py.client.lease.keepalive.duration",
    unit="s",
    description="Round trips of lease keep-alives, request to answer",
)
LEASE_LOSSES = _meter.create_counter(
    "etcd3py.client.lease.losses",
    unit="{lease}",
    description="Leases the client found lost, by reason",
)

_on = False


def enabled() -> bool:
    """True once an application has installed a meter provider (it cannot be undone)."""
    global _on
    if _on:
        return True
    if _ASK_PUBLIC_API or _api._METER_PROVIDER is not None:
        provider = metrics.get_meter_provider()
        _on = _PROXY is None or not isinstance(provider, _PROXY)
    return _on


def call_done(method: Method, seconds: float, outcome: str) -> None:
    """``outcome``: "ok", or the name of the error class the caller got."""
    CALL_DURATION.record(seconds, {"rpc.method": method.span_name, "etcd3py.outcome": outcome})


def retried(method: Method) -> None:
    if enabled():
        RETRIES.add(1, {"rpc.method": method.span_name})


def failed_over(left: str) -> None:
    if enabled():
        FAILOVERS.add(1, {"etcd.endpoint": left})


def stream_reopened(method: Method) -> None:
    if enabled():
        STREAM_REOPENS.add(1, {"rpc.method": method.span_name})


def watches_resumed(count: int) -> None:
    if count and enabled():
        WATCH_RESUMES.add(count)


def keepalive_answered(seconds: float) -> None:
    if enabled():
        KEEPALIVE_DURATION.record(seconds)


def lease_lost(reason: str) -> None:
    """``reason``: "expired" (etcd no longer knows it) or "unconfirmed" (no keep-alive
    answered within its TTL). A lease the application revoked is not lost."""
    if enabled():
        LEASE_LOSSES.add(1, {"etcd3py.reason": reason})
