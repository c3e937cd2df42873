"""Who is calling: the credentials of the request being served (etcd reads them from
its gRPC context: the ``token`` metadata, else a verified client certificate's CN).

The gRPC handlers set ``CALLER`` for the request they serve; the server reads it when
it proposes or reads. Work the member starts itself runs with no caller.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass


def _no_name() -> str | None:
    return None


@dataclass(frozen=True)
class Credentials:
    token: str | None = None  # the ``token`` metadata
    # a verified TLS client certificate's CN, looked up only when auth needs it (it
    # costs more than the whole rest of finding the caller)
    common_name: Callable[[], str | None] = _no_name


@dataclass(frozen=True)
class AuthInfo:
    """Who a request runs as: a user, and the auth revision the caller was checked at."""

    username: str
    revision: int


NO_CREDENTIALS = Credentials()
CALLER: ContextVar[Credentials] = ContextVar("etcd3py_server_ref_caller", default=NO_CREDENTIALS)
