"""Client settings: endpoints parsed and checked once, before any connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ._errors import InvalidArgumentError

LB_POLICIES = ("pick_first", "round_robin")
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Endpoint:
    """One etcd member as a gRPC target."""

    target: str  # what grpc dials: "host:port" or "unix:..."
    secure: bool
    display: str  # as the user wrote it, for messages and spans
    host: str = ""
    port: int = 0


def parse_endpoint(text: str, tls: bool) -> Endpoint:
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgumentError(f"endpoint must be a non-empty string, not {text!r}")
    text = text.strip()
    if text.startswith("unix:"):
        path = text[len("unix://") :] if text.startswith("unix://") else text[len("unix:") :]
        if not path:
            raise InvalidArgumentError(f"endpoint {text!r} names no socket path")
        target = f"unix://{path}" if path.startswith("/") else f"unix:{path}"
        return Endpoint(target, tls, text, host=path)
    parts = urlsplit(text if "://" in text else f"//{text}")
    scheme = parts.scheme or ("https" if tls else "http")
    if scheme not in ("http", "https"):
        raise InvalidArgumentError(
            f"endpoint {text!r}: scheme must be http, https or unix, not {scheme!r}"
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise InvalidArgumentError(f"endpoint {text!r} needs a host and a port, as host:port")
    if parts.path not in ("", "/"):
        raise InvalidArgumentError(f"endpoint {text!r} must not have a path")
    host = parts.hostname
    shown_host = f"[{host}]" if ":" in host else host
    return Endpoint(f"{shown_host}:{port}", scheme == "https", text, host=host, port=port)


def _read(path: str | Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise InvalidArgumentError(f"{what}: cannot read {path}: {err.strerror}") from None


@dataclass(frozen=True)
class ClientConfig:
    endpoints: tuple[Endpoint, ...]
    lb_policy: str = "round_robin"
    timeout: float = DEFAULT_TIMEOUT
    username: str | None = None
    password: str | None = None
    ca_cert: bytes | None = None
    cert_cert: bytes | None = None
    cert_key: bytes | None = None
    keepalive_time: float | None = None
    keepalive_timeout: float | None = None
    auto_sync_interval: float | None = None
    require_leader: bool = False
    channel_options: tuple[tuple[str, object], ...] = field(default=())

    @property
    def tls(self) -> bool:
        return any(e.secure for e in self.endpoints)


def make_config(
    endpoints: str | list[str] | tuple[str, ...],
    *,
    lb_policy: str,
    timeout: float,
    username: str | None,
    password: str | None,
    ca_cert: str | Path | None,
    cert_cert: str | Path | None,
    cert_key: str | Path | None,
    keepalive_time: float | None,
    keepalive_timeout: float | None,
    auto_sync_interval: float | None,
    require_leader: bool,
) -> ClientConfig:
    if isinstance(endpoints, str):
        endpoints = [e for e in endpoints.split(",") if e.strip()] or [endpoints]
    if not endpoints:
        raise InvalidArgumentError("give at least one endpoint")
    if lb_policy not in LB_POLICIES:
        raise InvalidArgumentError(f"lb_policy must be one of {LB_POLICIES}, not {lb_policy!r}")
    if not timeout or timeout <= 0:
        raise InvalidArgumentError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if (username is None) != (password is None):
        raise InvalidArgumentError("give both username and password, or neither")
    if (cert_cert is None) != (cert_key is None):
        raise InvalidArgumentError("give both cert_cert and cert_key, or neither")
    for name, value in (
        ("keepalive_time", keepalive_time),
        ("keepalive_timeout", keepalive_timeout),
        ("auto_sync_interval", auto_sync_interval),
    ):
        if value is not None and value <= 0:
            raise InvalidArgumentError(f"{name} must be positive, not {value!r}")
    tls = ca_cert is not None or cert_cert is not None
    parsed = tuple(parse_endpoint(e, tls) for e in endpoints)
    if len({e.secure for e in parsed}) > 1:
        raise InvalidArgumentError("endpoints mix http and https")
    return ClientConfig(
        endpoints=parsed,
        lb_policy=lb_policy,
        timeout=float(timeout),
        username=username,
        password=password,
        ca_cert=_read(ca_cert, "ca_cert"),
        cert_cert=_read(cert_cert, "cert_cert"),
        cert_key=_read(cert_key, "cert_key"),
        keepalive_time=keepalive_time,
        keepalive_timeout=keepalive_timeout,
        auto_sync_interval=auto_sync_interval,
        require_leader=require_leader,
    )
