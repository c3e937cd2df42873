"""OpenTelemetry spans, one per RPC attempt, through opentelemetry-api only.

Without an SDK the API is a no-op; we then skip span creation altogether, so a call
pays one isinstance check for tracing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode

from ._config import Endpoint
from ._methods import Method

_tracer = trace.get_tracer("etcd3py")
_enabled = False


def enabled() -> bool:
    """True once an application has installed a tracer provider (it cannot be undone).

    The public ``get_tracer_provider()`` looks in ``os.environ`` on every call while no
    provider is set (about 2 us); the API module's global says the same for free. When
    it is not there (another API version) or a provider is named by environment
    variable (loaded on first ask), the public function decides.
    """
    global _enabled
    if _enabled:
        return True
    if _ASK_PUBLIC_API or getattr(trace, "_TRACER_PROVIDER", None) is not None:
        _enabled = not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)
    return _enabled


_ASK_PUBLIC_API = not hasattr(trace, "_TRACER_PROVIDER") or bool(
    os.environ.get("OTEL_PYTHON_TRACER_PROVIDER")
)


@contextlib.contextmanager
def rpc_span(method: Method, endpoint: Endpoint, attempt: int = 1) -> Iterator[None]:
    attributes: dict[str, str | int] = {
        "rpc.system": "grpc",
        "rpc.service": method.service,
        "rpc.method": method.name,
        "etcd.endpoint": endpoint.display,
        "server.address": endpoint.host,
    }
    if endpoint.port:
        attributes["server.port"] = endpoint.port
    if attempt > 1:
        attributes["etcd.attempt"] = attempt
    with _tracer.start_as_current_span(
        method.span_name, kind=SpanKind.CLIENT, attributes=attributes,
        record_exception=True, set_status_on_exception=False,
    ) as span:  # fmt: skip
        try:
            yield
        except BaseException as err:
            span.set_status(Status(StatusCode.ERROR, type(err).__name__))
            raise
