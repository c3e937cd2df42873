"""The pytest plugin, as users meet it: their test files run by pytester."""

from __future__ import annotations

import pytest

from etcd3py import Client
from tests.support.servers import EtcdProcess

from .user_files import ANYIO_BACKEND, ASYNC_UNDER, EMBEDDED_ONLY, EVERY_FIXTURE

FIXTURES = [
    "etcd_server",
    "etcd_endpoint",
    "etcd_client",
    "async_etcd_client",
    "etcd_cluster",
    "etcd_prefix",
]


def test_every_fixture_works_on_embedded_servers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=EVERY_FIXTURE)
    pytester.makeconftest(ANYIO_BACKEND)
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=EVERY_FIXTURE.count("\ndef test_") + 1)


def test_no_etcd3py_removes_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("\n".join(f"def test_{name}({name}):\n    pass\n" for name in FIXTURES))
    result = pytester.runpytest("-p", "no:etcd3py")
    result.assert_outcomes(errors=len(FIXTURES))
    for name in FIXTURES:
        result.stdout.fnmatch_lines([f"*fixture '{name}' not found*"])
    helped = pytester.runpytest("--help")
    assert "--etcd-endpoints" in helped.stdout.str()
    assert "--etcd-endpoints" not in pytester.runpytest("-p", "no:etcd3py", "--help").stdout.str()


def _external_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_user=EVERY_FIXTURE)
    pytester.makeconftest(ANYIO_BACKEND)
    return pytester.runpytest("-p", "no:asyncio", "-rs", *args)


def _check_external(result: pytest.RunResult) -> None:
    total = EVERY_FIXTURE.count("\ndef test_") + 1
    result.assert_outcomes(passed=total - EMBEDDED_ONLY, skipped=EMBEDDED_ONLY)
    result.stdout.fnmatch_lines(
        ["*etcd_server needs etcd3py's embedded reference server*external etcd at*"]
    )
    result.stdout.fnmatch_lines(["*etcd_cluster needs etcd3py's embedded reference server*"])


def test_etcd_endpoints_runs_the_tests_against_real_etcd(
    pytester: pytest.Pytester, real_etcd: EtcdProcess
) -> None:
    result = _external_run(pytester, "--etcd-endpoints", real_etcd.endpoint)
    _check_external(result)
    result.stdout.fnmatch_lines([f"etcd3py fixtures: external etcd at {real_etcd.endpoint}"])
    with Client(real_etcd.endpoint) as client:  # each test's prefix was emptied after it
        assert client.get("/etcd3py-test/", prefix=True, count_only=True).count == 0


def test_the_endpoints_come_from_the_environment_or_the_ini_file(
    pytester: pytest.Pytester, real_etcd: EtcdProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETCD3PY_TEST_ENDPOINTS", real_etcd.endpoint)
    _check_external(_external_run(pytester))
    monkeypatch.delenv("ETCD3PY_TEST_ENDPOINTS")
    pytester.makeini(f"[pytest]\netcd_endpoints = {real_etcd.endpoint}\n")
    _check_external(_external_run(pytester))


@pytest.mark.parametrize(("marker", "plugin_off"), [("asyncio", "anyio"), ("anyio", "asyncio")])
def test_the_async_client_works_under_either_plugin(
    pytester: pytest.Pytester, marker: str, plugin_off: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_user=ASYNC_UNDER.format(marker=marker))
    if marker == "anyio":
        pytester.makeconftest(ANYIO_BACKEND)
        monkeypatch.delenv("PYTEST_ADDOPTS")  # pytest-asyncio's setting: unknown without it
    result = pytester.runpytest("-p", f"no:{plugin_off}", "-W", "error")
    result.assert_outcomes(passed=2)


def test_server_args_configure_the_embedded_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
import pytest
from etcd3py import Put, TooManyOpsError

def test_max_txn_ops(etcd_client):
    etcd_client.txn(success=[Put("a", "1"), Put("b", "2")])
    with pytest.raises(TooManyOpsError):
        etcd_client.txn(success=[Put("a", "1"), Put("b", "2"), Put("c", "3")])
"""
    )
    result = pytester.runpytest("--etcd-server-args", "--max-txn-ops 2")
    result.assert_outcomes(passed=1)


def test_client_cert_auth_serves_tls_to_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
def test_tls(etcd_server, etcd_endpoint, etcd_client):
    assert etcd_endpoint.startswith("https://")
    assert etcd_server.tls is not None
    etcd_client.put("k", "v")
    assert etcd_client.get("k").value == b"v"
"""
    )
    pytester.makeini("[pytest]\netcd_server_args = --client-cert-auth\n")
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("--no-such-flag 1", "*unrecognized arguments: --no-such-flag 1*"),
        ("--max-txn-ops many", "*--max-txn-ops*invalid*"),
        ("--listen-client-urls http://127.0.0.1:2379", "*--listen-client-urls is not for*"),
    ],
)
def test_bad_server_args_are_a_usage_error(
    pytester: pytest.Pytester, args: str, message: str
) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--etcd-server-args", args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


SESSION_SERVER = """
PORTS = []


def test_first(etcd_server, etcd_client):
    PORTS.append(etcd_server.port)
    etcd_client.put("k", "v")
    etcd_client.lease(30)


def test_second(etcd_server, etcd_client):
    PORTS.append(etcd_server.port)
    assert PORTS[0] == PORTS[1]  # the session's server, reset in place
    assert etcd_client.get("k").kvs == []
    assert etcd_client.leases() == []
"""


def test_with_reset_one_server_serves_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=SESSION_SERVER)
    pytester.runpytest().assert_outcomes(passed=2)
