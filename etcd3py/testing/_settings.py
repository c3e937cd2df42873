"""What the plugin's fixtures run against: an external etcd, or embedded servers made
with etcd's own server flags (parsed by the reference server's command-line parser,
so ``--etcd-server-args`` takes exactly what ``etcd3py-server`` takes)."""

from __future__ import annotations

import dataclasses
import os
import shlex
from dataclasses import dataclass, field
from typing import Any, NoReturn

from etcd3py.server_ref.embed.cli import build_parser
from etcd3py.server_ref.embed.config import DEFAULTS, Flag

ENDPOINTS_ENV = "ETCD3PY_TEST_ENDPOINTS"

# Config settings that EmbeddedServer takes under the same name
_PASSED_THROUGH = {
    "name",
    "min_lease_ttl",
    "max_txn_ops",
    "max_request_bytes",
    "quota_backend_bytes",
    "progress_notify_interval",
    "data_dir",
    "snapshot_count",
    "unsafe_no_fsync",
    "auth_token",
    "auth_token_ttl",
    "bcrypt_cost",
}
# flags that ask for client TLS: the embedded server makes a throw-away CA, a server and
# a client certificate, and the fixtures' clients show that certificate
_TLS = {"client_cert_auth", "auto_tls"}


class SettingsError(ValueError):
    """A plugin setting that cannot be used (reported as a pytest usage error)."""


@dataclass(frozen=True)
class ServerSettings:
    """EmbeddedServer keyword arguments, from etcd's flags."""

    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> str | None:
        value = self.kwargs.get("data_dir")
        return None if value is None else str(value)


def parse_server_args(text: str) -> ServerSettings:
    """``"--quota-backend-bytes 1048576 --auth-token jwt,..."`` -> EmbeddedServer settings.

    Flags outside what one embedded server on a free loopback port can take
    (listen URLs, clustering, certificate files) are refused by name.
    """
    parser = build_parser()

    def refuse(message: str) -> NoReturn:  # instead of printing usage and exiting
        raise SettingsError(f"--etcd-server-args {text!r}: {message}")

    parser.error = refuse  # type: ignore[method-assign]
    parsed = vars(parser.parse_args(shlex.split(text)))
    changed = {
        name: value for name, value in parsed.items() if value != getattr(DEFAULTS, name, value)
    }
    kwargs: dict[str, Any] = {}
    for name, value in changed.items():
        if name in _PASSED_THROUGH:
            kwargs[name] = value
        elif name in _TLS:
            kwargs["tls"] = bool(value)
        else:
            raise SettingsError(
                f"--etcd-server-args: {_flag_name(name)} is not for the embedded test server "
                "(it listens on a free loopback port, alone; TLS: --client-cert-auth or --auto-tls)"
            )
    return ServerSettings(kwargs)


def _flag_name(setting: str) -> str:
    flag: Flag = next(f.metadata["flag"] for f in dataclasses.fields(DEFAULTS) if f.name == setting)
    return flag.name


def external_endpoints(option: str | None, ini: str | None) -> list[str]:
    """The external etcd to test against: ``--etcd-endpoints``, else the environment
    variable, else the ini setting; [] for the embedded server."""
    for source in (option, os.environ.get(ENDPOINTS_ENV), ini):
        if source and source.strip():
            return [e.strip() for e in source.split(",") if e.strip()]
    return []
