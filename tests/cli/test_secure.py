"""The client flags that need a secure server: --cacert/--cert/--key against https with
client certificates, and --user/--password (both forms) with auth on; etcdctl 3.5.1 and
``etcd3py`` on the same fresh server, real etcd and server_ref."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from etcd3py import Client
from etcd3py.server_ref import EmbeddedServer
from tests.cli.conftest import Differ
from tests.support.auth_backends import BCRYPT_COST
from tests.support.auth_servers import auth_member
from tests.support.certs import Certs, make_certs
from tests.support.cli_diff import TIMEOUT, Scenario, Streaming, prefixes


@pytest.fixture(scope="module", params=["etcd", "server_ref"])
def secure(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Certs]]:
    """An https member wanting client certificates, with auth on (user root, root-pw);
    one per module and kind (the tests work under their own prefixes)."""
    tmp_path = tmp_path_factory.mktemp("secure")
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


def test_make_mirror_to_a_secure_destination(secure: tuple[str, Certs], prefix: bytes) -> None:
    """--dest-cacert/--dest-cert/--dest-key and --dest-user: a plain source, an https
    destination with auth on."""
    endpoint, certs = secure
    options: dict[str, object] = {
        "ca_cert": certs.ca,
        "cert_cert": certs.client_cert,
        "cert_key": certs.client_key,
        "username": "root",
        "password": "root-pw",
    }
    results = []
    with (
        EmbeddedServer() as source_server,
        Client(source_server.endpoint) as source,
        Client(endpoint, **options) as dest,  # type: ignore[arg-type]
    ):
        for ours, tool_prefix in zip((False, True), prefixes(prefix), strict=True):
            source.put(tool_prefix + "k", "v")
            flags = [
                f"--prefix={tool_prefix}",
                f"--dest-cacert={certs.ca}",
                f"--dest-cert={certs.client_cert}",
                f"--dest-key={certs.client_key}",
                "--dest-user=root:root-pw",
                endpoint,
            ]
            stream = Streaming(ours, source_server.endpoint, ["make-mirror", *flags])
            deadline = time.monotonic() + TIMEOUT
            while dest.get(tool_prefix + "k").value != b"v":
                assert time.monotonic() < deadline, "the key never reached the destination"
                time.sleep(0.02)
            result = stream.finish()
            results.append((result.stdout, result.stderr, result.code))
    assert results[1] == results[0]
