"""``--user``: a password given, asked for, or wrong, on a server with auth enabled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from etcd3py import Client
from etcd3py.cli.benchmark import benchmark
from tests.support.auth_servers import auth_member

from .benchmark_support import histogram_counts

ROOT = ("root", "root-pw")


@pytest.fixture(scope="module", params=["server_ref", "etcd"])
def endpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("benchmark-auth")
    proc = auth_member(request.param, folder / "data", 300, bcrypt_cost=4)
    proc.start()
    try:
        with Client(proc.endpoint) as admin:
            admin.user_add(*ROOT)
            admin.user_grant_role(ROOT[0], "root")
            admin.auth_enable()
        yield proc.endpoint
    finally:
        proc.remove()


def run(endpoint: str, user: str, stdin: str | None = None) -> tuple[int, str, str]:
    args = ["--endpoints", endpoint, "--user", user, "--clients", "2", "put", "--total", "6"]
    result = CliRunner().invoke(benchmark, args, input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_user_with_password(endpoint: str) -> None:
    code, out, _ = run(endpoint, "root:root-pw")
    assert code == 0
    assert sum(histogram_counts(out)[0]) == 6


def test_password_is_asked_for_once(endpoint: str) -> None:
    code, out, err = run(endpoint, "root", stdin="root-pw\n")
    assert code == 0
    assert err.count("Password:") == 1
    assert sum(histogram_counts(out)[0]) == 6


def test_a_wrong_password_is_an_error(endpoint: str) -> None:
    code, out, err = run(endpoint, "root:wrong")
    assert code == 1
    assert "Error: dial error:" in err
    assert "authentication failed" in err
    assert "Summary:" not in out
