"""The client flags that need a secure server: --cacert/--cert/--key against https with
client certificates, and --user/--password (both forms) with auth on; etcdctl 3.5.1 and
``etcd3py`` on the same fresh server, real etcd and server_ref."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from etcd3py import Client
from tests.cli.conftest import Differ
from tests.support.auth_backends import BCRYPT_COST
from tests.support.auth_servers import auth_member
from tests.support.certs import Certs, make_certs
from tests.support.cli_diff import Scenario


@pytest.fixture(params=["etcd", "server_ref"])
def secure(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Certs]]:
    """An https member wanting client certificates, with auth on (user root, root-pw)."""
    certs = make_certs(tmp_path / "certs")
    proc = auth_member(request.param, tmp_path / "data", 300, certs=certs, bcrypt_cost=BCRYPT_COST)
    proc.start()
    try:
        endpoint = f"https://{proc.endpoint}"
        with Client(
            endpoint,
            ca_cert=certs.ca,
            cert_cert=certs.client_cert,
            cert_key=certs.client_key,
        ) as client:
            client.user_add("root", "root-pw")
            client.user_grant_role("root", "root")
            client.auth_enable()
        yield endpoint, certs
    finally:
        proc.remove()


def test_tls_and_auth_flags(secure: tuple[str, Certs], prefix: bytes) -> None:
    endpoint, certs = secure
    tls = [f"--cacert={certs.ca}", f"--cert={certs.client_cert}", f"--key={certs.client_key}"]

    def steps(s: Scenario) -> None:
        s.run("put", "{p}k", "v", "--user=root:root-pw", *tls)
        s.run("get", "{p}k", "--user=root", "--password=root-pw", "-w", "json", *tls)
        s.run("get", "{p}k", *tls)  # the certificate's name is the user: not one etcd knows
        s.run("get", "{p}k", "--user=root:wrong", *tls)
        s.run("get", "{p}k", "--user=nobody:pw", *tls)
        s.run("get", "{p}k", "--cert=", *tls[:1])
        s.run("get", "{p}k", "--user=root:root-pw", "--command-timeout=1s", *tls[:1])
        s.run("get", "{p}k", f"--cacert={certs.other_ca}", *tls[1:], "--command-timeout=1s")

    options = {
        "ca_cert": certs.ca,
        "cert_cert": certs.client_cert,
        "cert_key": certs.client_key,
        "username": "root",
        "password": "root-pw",
    }
    Differ(endpoint, prefix, **options).scenario(steps)
