"""The one table of a member's settings: etcd's flag names and etcd's defaults.

``Config`` is that table. The CLI builds its flags from it, ``EmbeddedServer`` takes
its defaults from ``DEFAULTS``, and ``server_config()`` hands the server its part.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..auth.tokens import InvalidAuthOptions, parse_options
from ..cluster.bootstrap import ClusterConfigError, parse_initial_cluster
from ..cluster.timing import ELECTION_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS
from ..durations import parse_duration
from ..server.config import ServerConfig
from ..server.durable import DEFAULT_SNAPSHOT_COUNT, Durability
from .tls import ClientTls, auto_tls


def parse_urls(text: str) -> tuple[str, ...]:
    """A comma-separated URL list, as etcd's URL flags take it."""
    return tuple(u.strip() for u in text.split(",") if u.strip())


def show_urls(urls: tuple[str, ...]) -> str:
    return ",".join(urls) or "none"


def show_duration(seconds: float) -> str:
    return f"{seconds:g}s"


def parse_bool(text: str) -> bool:
    """A Go boolean flag's value: ``--flag``, ``--flag=true``, ``--flag=false``."""
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (expected true or false)")


def show_file(path: str | None) -> str:
    return "none" if path is None else path


def parse_auth_token(text: str) -> str:
    """etcd's --auth-token: ``simple``, or ``jwt,pub-key=FILE,priv-key=FILE,
    sign-method=RS256,ttl=5m`` (the keys are read when the member starts)."""
    try:
        kind, _ = parse_options(text)
    except InvalidAuthOptions as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if kind not in ("simple", "jwt"):
        raise argparse.ArgumentTypeError(f"unknown auth token type {kind!r} (simple or jwt)")
    return text


def parse_initial_cluster_flag(text: str) -> str:
    """etcd's --initial-cluster, checked now (name=URL pairs) and kept as given."""
    try:
        parse_initial_cluster(text)
    except ClusterConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def parse_cluster_state(text: str) -> str:
    if text not in ("new", "existing"):
        raise argparse.ArgumentTypeError(f"{text!r}: new or existing")
    return text


def show_data_dir(path: str | None) -> str:
    return "none: in memory" if path is None else path


@dataclass(frozen=True)
class Flag:
    """How a setting appears on the command line: etcd's flag name, how to parse its
    value, and how to show the default in ``--help``."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    show: Callable[[Any], str] = str
    boolean: bool = False  # Go style: ``--flag`` alone means true


def _urls_flag(name: str, help: str) -> Flag:
    return Flag(name, help, parse_urls, "URLS", show_urls)


def _setting(default: Any, flag: Flag) -> Any:
    return field(default=default, metadata={"flag": flag})


@dataclass(frozen=True)
class Config:
    name: str = _setting("default", Flag("--name", "member name"))
    listen_client_urls: tuple[str, ...] = _setting(
        ("http://localhost:2379",),
        _urls_flag("--listen-client-urls", "comma-separated URLs to serve clients on"),
    )
    listen_client_http_urls: tuple[str, ...] = _setting(
        (),
        _urls_flag(
            "--listen-client-http-urls",
            "URLs to serve HTTP only on (health, version); given, --listen-client-urls "
            "serve gRPC only (etcd 3.5.8's flag); none: the client URLs serve both",
        ),
    )
    listen_metrics_urls: tuple[str, ...] = _setting(
        (),
        _urls_flag(
            "--listen-metrics-urls",
            "more URLs to serve /metrics and /health on (http:// only here)",
        ),
    )
    advertise_client_urls: tuple[str, ...] = _setting(
        (),
        _urls_flag(
            "--advertise-client-urls", "client URLs reported by MemberList; none: the bound ones"
        ),
    )
    peer_urls: tuple[str, ...] = _setting(
        ("http://localhost:2380",),
        _urls_flag(
            "--initial-advertise-peer-urls", "peer URLs; with the token, they make the member id"
        ),
    )
    cluster_token: str = _setting(
        "etcd-cluster",
        Flag("--initial-cluster-token", "with the peer URLs, makes the member id", metavar="TOKEN"),
    )
    # ---- a cluster member (etcd's clustering flags) ----
    initial_cluster: str | None = _setting(
        None,
        Flag(
            "--initial-cluster",
            "the cluster's members at its start, name=peerURL,...: given, the member runs "
            "in a Raft cluster and talks to its peers on --listen-peer-urls; none: it runs "
            "alone",
            parse_initial_cluster_flag,
            "NAME=URL,...",
            show_file,
        ),
    )
    initial_cluster_state: str = _setting(
        "new",
        Flag(
            "--initial-cluster-state",
            "new: a member of a new cluster; existing: joins a running cluster after a member add",
            parse_cluster_state,
            "new|existing",
        ),
    )
    listen_peer_urls: tuple[str, ...] = _setting(
        (),
        _urls_flag(
            "--listen-peer-urls", "URLs to serve the peers on; none: the advertised peer URLs"
        ),
    )
    heartbeat_interval: int = _setting(
        HEARTBEAT_INTERVAL_MS,
        Flag("--heartbeat-interval", "milliseconds between two leader heartbeats", int, "MS"),
    )
    election_timeout: int = _setting(
        ELECTION_TIMEOUT_MS,
        Flag(
            "--election-timeout",
            "milliseconds a follower waits for its leader before it campaigns",
            int,
            "MS",
        ),
    )
    max_txn_ops: int = _setting(
        128, Flag("--max-txn-ops", "most operations in a transaction", int, "N")
    )
    max_request_bytes: int = _setting(
        1536 * 1024, Flag("--max-request-bytes", "largest request accepted", int, "N")
    )
    quota_backend_bytes: int = _setting(
        0,
        Flag(
            "--quota-backend-bytes",
            "raise the NOSPACE alarm when the db size would pass this many bytes "
            "(0: 2 GiB, etcd's default; negative: no quota)",
            int,
            "BYTES",
        ),
    )
    progress_notify_interval: float = _setting(
        600.0,
        Flag(
            "--experimental-watch-progress-notify-interval",
            "period of watch progress notifications",
            parse_duration,
            "DURATION",
            show_duration,
        ),
    )
    min_lease_ttl: int = _setting(
        2,
        Flag(
            "--min-lease-ttl",
            "smallest lease TTL granted, in seconds (not an etcd flag: etcd derives 2 "
            "from its default election timeout)",
            int,
            "SECONDS",
        ),
    )

    # ---- auth ----
    auth_token: str = _setting(
        "simple",
        Flag(
            "--auth-token",
            "how auth tokens are made: simple, or jwt,pub-key=FILE,priv-key=FILE,"
            "sign-method=RS256,ttl=5m (needs the extra etcd3py[jwt])",
            parse_auth_token,
            "TYPE",
        ),
    )
    auth_token_ttl: int = _setting(
        300,
        Flag("--auth-token-ttl", "seconds a simple token lives unused", int, "SECONDS"),
    )
    bcrypt_cost: int = _setting(
        10,
        Flag(
            "--bcrypt-cost",
            "bcrypt cost of password hashes (4 to 31; out of range: 10, as etcd)",
            int,
            "N",
        ),
    )

    data_dir: str | None = _setting(
        None,
        Flag(
            "--data-dir",
            "where the member keeps its log and snapshots; none: in memory, lost on exit",
            str,
            "DIR",
            show_data_dir,
        ),
    )
    snapshot_count: int = _setting(
        DEFAULT_SNAPSHOT_COUNT,
        Flag("--snapshot-count", "applied entries between two snapshots of the log", int, "N"),
    )
    unsafe_no_fsync: bool = _setting(
        False,
        Flag(
            "--unsafe-no-fsync",
            "write the log without fsync: a crash of the machine (not of the process) may "
            "lose acknowledged writes",
            parse_bool,
            "BOOL",
            boolean=True,
        ),
    )

    # client TLS (etcd's ClientTLSInfo): used by the https:// and unixs:// client URLs
    cert_file: str | None = _setting(
        None, Flag("--cert-file", "the client server's TLS certificate", str, "FILE", show_file)
    )
    key_file: str | None = _setting(
        None, Flag("--key-file", "the client server's TLS key", str, "FILE", show_file)
    )
    trusted_ca_file: str | None = _setting(
        None,
        Flag(
            "--trusted-ca-file",
            "CA certificates of the clients: given, every client must show a certificate "
            "they signed (as with --client-cert-auth)",
            str,
            "FILE",
            show_file,
        ),
    )
    client_cert_auth: bool = _setting(
        False,
        Flag(
            "--client-cert-auth",
            "require a client certificate (verified by --trusted-ca-file, else the system's CAs)",
            parse_bool,
            "BOOL",
            boolean=True,
        ),
    )

    auto_tls: bool = _setting(
        False,
        Flag(
            "--auto-tls",
            "without --cert-file and --key-file: a self-signed certificate, kept in "
            "DATA_DIR/fixtures/client (no client certificate is then asked for)",
            parse_bool,
            "BOOL",
            boolean=True,
        ),
    )

    def client_tls(self) -> ClientTls:
        """The client TLS setting; with ``--auto-tls`` its certificate is made (or found)
        now, as etcd makes it at start."""
        tls = ClientTls(self.cert_file, self.key_file, self.trusted_ca_file, self.client_cert_auth)
        if self.auto_tls:
            return auto_tls(tls, self.listen_client_urls, self.data_dir)
        return tls

    def durability(self) -> Durability | None:
        """Where the data lives, or None to keep it in memory."""
        if self.data_dir is None:
            return None
        return Durability(Path(self.data_dir), self.snapshot_count, not self.unsafe_no_fsync)

    def server_config(self) -> ServerConfig:
        return ServerConfig(
            name=self.name,
            peer_urls=self.peer_urls,
            client_urls=self.advertise_client_urls,
            cluster_token=self.cluster_token,
            min_lease_ttl=self.min_lease_ttl,
            max_txn_ops=self.max_txn_ops,
            max_request_bytes=self.max_request_bytes,
            quota_backend_bytes=self.quota_backend_bytes,
            progress_notify_interval=self.progress_notify_interval,
            auth_token=self.auth_token,
            auth_token_ttl=float(self.auth_token_ttl),
            bcrypt_cost=self.bcrypt_cost,
            # --auto-tls without a certificate replaces the whole client TLS setting
            client_cert_auth=self.client_cert_auth
            and not (self.auto_tls and not (self.cert_file or self.key_file)),
        )


DEFAULTS = Config()
