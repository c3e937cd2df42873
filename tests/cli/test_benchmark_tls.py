"""``--cacert``/``--cert``/``--key``: a run over TLS with a client certificate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.auth_servers import tls_process
from tests.support.certs import Certs, make_certs

from .benchmark_support import histogram_counts, invoke


@pytest.fixture(scope="module", params=["server_ref", "etcd"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Certs]]:
    folder = tmp_path_factory.mktemp("benchmark-tls")
    certs = make_certs(folder / "certs")
    proc = tls_process(request.param, folder / "data", certs, cn_auth=False)
    proc.start()
    try:
        yield proc.endpoint, certs
    finally:
        proc.remove()


def test_put_over_tls(served: tuple[str, Certs]) -> None:
    endpoint, certs = served
    tls = ["--cacert", str(certs.ca), "--cert", str(certs.client_cert),
           "--key", str(certs.client_key)]  # fmt: skip
    result = invoke([*tls, "put", "--total", "5"], endpoint)
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 5


def test_an_untrusted_server_is_a_dial_error(served: tuple[str, Certs]) -> None:
    endpoint, certs = served
    tls = ["--cacert", str(certs.other_ca), "--cert", str(certs.client_cert),
           "--key", str(certs.client_key), "--dial-timeout", "2s"]  # fmt: skip
    result = invoke([*tls, "put", "--total", "5"], endpoint)
    assert result.exit_code == 1
    assert "Error: dial error:" in result.stderr
