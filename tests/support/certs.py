"""Throw-away TLS material for the tests: the package's (server_ref/embed/certs.py), plus
a second CA that signed nothing the servers use: trusting it alone must fail the handshake.

    certs = make_certs(tmp_path)
    certs.ca, certs.server_cert, certs.server_key, certs.client_cert, certs.client_key
    certs.other_ca
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from etcd3py.server_ref.embed import certs as package_certs
from etcd3py.server_ref.embed.certs import TlsFiles


@dataclass(frozen=True)
class Certs(TlsFiles):
    other_ca: Path = Path()


def make_certs(directory: Path, client_name: str = "etcd3py-test") -> Certs:
    """The package's CA, server and client certificates, and an unrelated CA."""
    files = package_certs.make_certs(directory, client_name=client_name)
    other_ca, _ = package_certs.make_ca(directory, "etcd3py untrusted CA", stem="other-ca")
    return Certs(**vars(files), other_ca=other_ca)
