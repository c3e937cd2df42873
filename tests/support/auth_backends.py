"""The servers the auth oracle tests compare: fresh ones of each kind, auth being server-wide.

``auth_server`` starts real etcd or server_ref (as a process, ``TlsRefProcess`` with
TLS) with the same auth flags (AUTH_FLAGS); a flag server_ref does not know yet makes
it refuse to start, which ``FlagsRejected`` reports with the flags named.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support.auth_servers import TlsEtcdProcess
from tests.support.certs import Certs
from tests.support.servers import EtcdProcess, RefProcess

# Both kinds, compared with each other. ETCD3PY_AUTH_BACKENDS=etcd narrows it for a local
# run while server_ref has no auth; never narrowed in CI.
AUTH_BACKENDS = os.environ.get("ETCD3PY_AUTH_BACKENDS", "etcd,server_ref").split(",")
# simple tokens; bcrypt at its lowest cost, so that each Authenticate is cheap
AUTH_FLAGS = ["--auth-token", "simple", "--bcrypt-cost", "4"]
TLS_FLAG_NAMES = ("--cert-file", "--key-file", "--trusted-ca-file", "--client-cert-auth")


class TlsRefProcess(TlsEtcdProcess, RefProcess):
    """server_ref on the command line with the same TLS flags as ``TlsEtcdProcess``."""


def auth_server(kind: str, data_dir: Path, certs: Certs | None = None) -> EtcdProcess:
    """A started ``kind`` ("etcd" or "server_ref") server with AUTH_FLAGS; https with
    client certificates when ``certs`` are given."""
    proc: EtcdProcess
    if certs is None:
        plain = EtcdProcess if kind == "etcd" else RefProcess
        proc = plain(data_dir, extra_args=["--unsafe-no-fsync", *AUTH_FLAGS])
    else:
        tls = TlsEtcdProcess if kind == "etcd" else TlsRefProcess
        proc = tls(data_dir, certs, AUTH_FLAGS)
    try:
        proc.start()
    except RuntimeError as err:
        proc.remove()
        found = re.search(r"unrecognized arguments: (.*)", proc.log_tail())
        if found is None:
            raise
        flags = [a for a in found.group(1).split() if a.startswith("--")]
        raise FlagsRejected(flags, str(err)) from None
    except BaseException:
        proc.remove()
        raise
    return proc


class FlagsRejected(RuntimeError):
    """The server refused to start because it does not know ``flags``."""

    def __init__(self, flags: list[str], message: str) -> None:
        super().__init__(message)
        self.flags = flags
