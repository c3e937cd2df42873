"""etcd 3.5.1's client TLS flags, as probed, on real etcd and on server_ref's CLI.

Each test starts its own member with the flags under test. A member that must serve
listens on two client URLs: the https one under test and a plain one, which tells when
the member is up (whatever the https one accepts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from tests.conftest import BACKENDS
from tests.support.certs import Certs, make_certs
from tests.support.servers import EtcdProcess, RefProcess, free_port

EXIT_TIMEOUT = 30.0  # seconds a refused configuration may take to stop the member


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("tls-flag-certs"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """Certificates of a CA the members are never told about."""
    return make_certs(tmp_path_factory.mktemp("tls-flag-stranger"))


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def member(
    kind: str, data_dir: Path, client_urls: str, flags: list[str], plain_port: int | None = None
) -> EtcdProcess:
    """Real etcd or server_ref's CLI on ``client_urls``; ``endpoint`` is the plain port's."""
    cls = EtcdProcess if kind == "etcd" else RefProcess
    return cls(data_dir, client_port=plain_port, client_url=client_urls, extra_args=flags)


class Https:
    """A member serving ``https://127.0.0.1:<port>`` beside a plain URL it is polled on."""

    def __init__(self, kind: str, data_dir: Path, flags: list[str]) -> None:
        self.port = free_port()
        plain = free_port()
        urls = f"http://127.0.0.1:{plain},https://127.0.0.1:{self.port}"
        self.proc = member(kind, data_dir, urls, ["--unsafe-no-fsync", *flags], plain)

    def __enter__(self) -> Https:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.remove()

    def status(self, certs: Certs, client: Certs | None = None) -> str:
        """Call Status over TLS trusting ``certs.ca``, showing ``client``'s certificate:
        "served", or "refused" when no connection came up."""
        credentials = grpc.ssl_channel_credentials(
            root_certificates=certs.ca.read_bytes(),
            private_key=client.client_key.read_bytes() if client else None,
            certificate_chain=client.client_cert.read_bytes() if client else None,
        )
        with grpc.secure_channel(f"127.0.0.1:{self.port}", credentials) as channel:
            try:
                stub = rpc_pb2_grpc.MaintenanceStub(channel)
                stub.Status(rpc_pb2.StatusRequest(), timeout=5)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                assert "failed to connect to all addresses" in str(err.details())
                return "refused"
        return "served"


def server_flags(certs: Certs) -> list[str]:
    return ["--cert-file", str(certs.server_cert), "--key-file", str(certs.server_key)]


def test_cert_and_key_alone_ask_no_client_certificate(
    kind: str, tmp_path: Path, certs: Certs, stranger: Certs
) -> None:
    with Https(kind, tmp_path / "data", server_flags(certs)) as https:
        assert https.status(certs) == "served"
        assert https.status(certs, client=stranger) == "served"  # never asked for, never checked
        assert https.status(certs, client=certs) == "served"


@pytest.mark.parametrize("client_cert_auth", [False, True])
def test_trusted_ca_file_requires_a_client_certificate_it_signed(
    kind: str, tmp_path: Path, certs: Certs, stranger: Certs, client_cert_auth: bool
) -> None:
    # etcd's TLSInfo.ServerConfig: a trusted CA file alone already means
    # RequireAndVerifyClientCert, as --client-cert-auth does
    flags = [*server_flags(certs), "--trusted-ca-file", str(certs.ca)]
    flags += ["--client-cert-auth"] if client_cert_auth else []
    with Https(kind, tmp_path / "data", flags) as https:
        assert https.status(certs) == "refused"
        assert https.status(certs, client=stranger) == "refused"
        assert https.status(certs, client=certs) == "served"


def test_client_cert_auth_without_ca_file_trusts_only_the_system_cas(
    kind: str, tmp_path: Path, certs: Certs
) -> None:
    with Https(kind, tmp_path / "data", [*server_flags(certs), "--client-cert-auth"]) as https:
        assert https.status(certs) == "refused"
        assert https.status(certs, client=certs) == "refused"


def test_a_ca_file_without_certificates_trusts_no_client(
    kind: str, tmp_path: Path, certs: Certs
) -> None:
    empty = tmp_path / "no-pem.txt"
    empty.write_text("no certificate here\n")
    flags = [*server_flags(certs), "--trusted-ca-file", str(empty), "--client-cert-auth"]
    with Https(kind, tmp_path / "data", flags) as https:
        assert https.status(certs, client=certs) == "refused"


def test_http_url_ignores_the_tls_flags(kind: str, tmp_path: Path, certs: Certs) -> None:
    port = free_port()
    flags = ["--unsafe-no-fsync", *server_flags(certs), "--trusted-ca-file", str(certs.ca)]
    proc = member(kind, tmp_path / "data", f"http://127.0.0.1:{port}", flags, port)
    proc.start()  # its readiness check is a plain-text Status: served
    try:
        tls = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
        with (
            grpc.secure_channel(proc.endpoint, tls) as channel,
            pytest.raises(grpc.RpcError) as info,
        ):
            rpc_pb2_grpc.MaintenanceStub(channel).Status(rpc_pb2.StatusRequest(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        proc.remove()


Refused = Callable[[list[str]], tuple[str, str]]


@pytest.fixture
def refused(kind: str, tmp_path: Path) -> Iterator[Refused]:
    """``refused(flags)``: start an https-only member that must stop at once, with exit
    status 1; its URL and its log."""
    started: list[EtcdProcess] = []

    def run(flags: list[str]) -> tuple[str, str]:
        url = f"https://127.0.0.1:{free_port()}"
        proc = member(kind, tmp_path / "data", url, flags)
        started.append(proc)
        proc.start(wait=False)
        assert proc.proc is not None
        assert proc.proc.wait(EXIT_TIMEOUT) == 1, proc.log_tail()
        return url, proc.log_path.read_text()

    yield run
    for proc in started:
        proc.remove()


def test_https_url_without_cert_and_key_stops_the_member(refused: Refused) -> None:
    url, log = refused([])
    message = f"TLS key/cert (--cert-file, --key-file) must be provided for client url {url}"
    assert f"{message} with HTTPS scheme" in log


def test_cert_without_key_stops_the_member(refused: Refused, certs: Certs) -> None:
    _, log = refused(["--cert-file", str(certs.server_cert)])
    assert f"KeyFile and CertFile must both be present[key: , cert: {certs.server_cert}]" in log
    _, log = refused(["--key-file", str(certs.server_key)])
    assert f"KeyFile and CertFile must both be present[key: {certs.server_key}, cert: ]" in log


@pytest.mark.parametrize("which", ["cert", "key", "ca"])
def test_missing_file_stops_the_member(
    refused: Refused, certs: Certs, tmp_path: Path, which: str
) -> None:
    missing = tmp_path / "missing.pem"
    files = {"cert": certs.server_cert, "key": certs.server_key, "ca": certs.ca, which: missing}
    flags = ["--cert-file", str(files["cert"]), "--key-file", str(files["key"])]
    _, log = refused([*flags, "--trusted-ca-file", str(files["ca"])])
    assert f"open {missing}: no such file or directory" in log


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("cert", "tls: failed to find any PEM data in certificate input"),
        ("key", "tls: failed to find any PEM data in key input"),
    ],
)
def test_file_without_pem_data_stops_the_member(
    refused: Refused, certs: Certs, tmp_path: Path, which: str, message: str
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a PEM file\n")
    files = {"cert": certs.server_cert, "key": certs.server_key, which: garbage}
    _, log = refused(["--cert-file", str(files["cert"]), "--key-file", str(files["key"])])
    assert message in log


def test_key_of_another_certificate_stops_the_member(refused: Refused, certs: Certs) -> None:
    _, log = refused(["--cert-file", str(certs.server_cert), "--key-file", str(certs.client_key)])
    assert "tls: private key does not match public key" in log


@pytest.mark.parametrize("ca_flags", [False, True], ids=["auto-tls", "auto-tls+ca"])
def test_auto_tls_serves_a_self_signed_certificate_from_the_data_dir(
    kind: str, tmp_path: Path, certs: Certs, ca_flags: bool
) -> None:
    # etcd's ClientSelfCert replaces the whole client TLS setting: the CA flags are dropped
    flags = ["--auto-tls"]
    flags += ["--trusted-ca-file", str(certs.ca), "--client-cert-auth"] if ca_flags else []
    made = tmp_path / "data" / "fixtures" / "client"
    with Https(kind, tmp_path / "data", flags) as https:
        served = Certs(**{**vars(certs), "ca": made / "cert.pem"})  # trust the made cert
        assert https.status(served) == "served"
        assert https.status(served, client=certs) == "served"
        assert https.status(certs) == "refused"  # not signed by any CA the client knows
        pem = (made / "cert.pem").read_bytes()
        assert (made / "key.pem").stat().st_mode & 0o777 == 0o600
        https.proc.stop()
        https.proc.start()  # restarted on its data dir: the same certificate
        assert https.status(served) == "served"
        assert (made / "cert.pem").read_bytes() == pem
    cert = x509.load_pem_x509_certificate(pem)
    etcd = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "etcd")])
    assert cert.subject == cert.issuer == etcd
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
