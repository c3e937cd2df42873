"""Client settings: endpoints parsed and checked once, before any connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from . import _check
from .errors import ArgumentError, ArgumentTypeError, InvalidArgumentError

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
    if not isinstance(text, str):
        raise ArgumentTypeError("endpoint", text, 'a str such as "host:port"')
    if not text.strip():
        raise ArgumentError("endpoint", text, 'a non-empty str such as "host:port"')
    text = text.strip()
    if text.startswith("unix:"):
        path = text[len("unix://") :] if text.startswith("unix://") else text[len("unix:") :]
        if not path:
            raise ArgumentError("endpoint", text, "a unix socket path after unix://")
        target = f"unix://{path}" if path.startswith("/") else f"unix:{path}"
        return Endpoint(target, tls, text, host=path)
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
    except ValueError as err:  # e.g. "Invalid IPv6 URL" for an unclosed "["
        raise ArgumentError("endpoint", text, f'"host:port" ({err})') from None
    scheme = parts.scheme or ("https" if tls else "http")
    if scheme not in ("http", "https"):
        raise InvalidArgumentError(
            f"endpoint {text!r}: scheme must be http, https or unix, not {scheme!r}"
        )
    try:
        port = parts.port
    except ValueError:
        raw = parts.netloc.rpartition(":")[2]
        if raw.isdigit():
            raise ArgumentError("endpoint", text, "a port from 1 to 65535") from None
        port = None
    if not parts.hostname or port is None:
        raise ArgumentError("endpoint", text, 'a host and a port, as "host:port"')
    if not 1 <= port <= 65535:
        raise ArgumentError("endpoint", text, "a port from 1 to 65535")
    if parts.path not in ("", "/"):
        raise ArgumentError("endpoint", text, "host:port without a path")
    host = parts.hostname
    shown_host = f"[{host}]" if ":" in host else host
    return Endpoint(f"{shown_host}:{port}", scheme == "https", text, host=host, port=port)


def _read(path: str | Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    if not isinstance(path, (str, Path)):
        raise ArgumentTypeError(what, path, "the path of a PEM file")
    try:
        return Path(path).read_bytes()
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        reason = err.strerror if isinstance(err, OSError) else str(err)
        raise ArgumentError(what, path, f"a readable file ({reason})") from None


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
    ordering: bool = False
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
    ordering: bool = False,
) -> ClientConfig:
    if isinstance(endpoints, str):
        endpoints = [e for e in endpoints.split(",") if e.strip()] or [endpoints]
    if not isinstance(endpoints, (list, tuple)):
        raise ArgumentTypeError("endpoints", endpoints, "a str or a list of str")
    if not endpoints:
        raise ArgumentError("endpoints", endpoints, "at least one endpoint")
    lb_policy = _check.choice(lb_policy, "lb_policy", LB_POLICIES)
    timeout = _check.seconds(timeout, "timeout")
    for name, given in (("username", username), ("password", password)):
        if given is not None:
            _check.text(given, name, empty=True)
    if (username is None) != (password is None):
        raise InvalidArgumentError("give both username and password, or neither")
    if (cert_cert is None) != (cert_key is None):
        raise InvalidArgumentError("give both cert_cert and cert_key, or neither")
    for name, value in (
        ("keepalive_time", keepalive_time),
        ("keepalive_timeout", keepalive_timeout),
        ("auto_sync_interval", auto_sync_interval),
    ):
        if value is not None:
            _check.seconds(value, name)
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
        ordering=bool(ordering),
    )
