"""Fixtures of the command-line tests: ``differ`` plays a scenario through etcdctl 3.5.1 and
through ``etcd3py``'s CLI, on the test's backend, and requires the same transcripts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.backends import Backend
from tests.support.cli_diff import (
    Run,
    Scenario,
    drop_client_logs,
    prefixes,
    run_etcdctl,
    run_ours,
)

Steps = Callable[[Scenario], object]


class Differ:
    def __init__(self, endpoint: str, prefix: bytes) -> None:
        self.endpoint = endpoint
        self.prefix = prefix

    def scenario(self, steps: Steps) -> list[str]:
        """Run ``steps`` with each tool under its own prefix; the transcripts must match."""
        theirs, ours = prefixes(self.prefix)
        expected = Scenario(self.endpoint, theirs, ours=False).start()
        steps(expected)
        actual = Scenario(self.endpoint, ours, ours=True).start()
        steps(actual)
        assert "\n".join(actual.transcript) == "\n".join(expected.transcript)
        return expected.transcript

    def same(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> Run:
        """A read-only command through both tools on the same keys (``{p}`` is the test's
        prefix): the same bytes, with no normalisation but the Go client's log lines."""
        shared = self.prefix.decode()
        args = tuple(a.replace("{p}", shared) for a in args)
        expected = run_etcdctl(self.endpoint, args, stdin, env)
        actual = run_ours(self.endpoint, args, stdin, env)
        assert (actual.stdout, drop_client_logs(actual.stderr), actual.code) == (
            expected.stdout,
            drop_client_logs(expected.stderr),
            expected.code,
        )
        return actual


@pytest.fixture
def differ(backend: Backend, prefix: bytes) -> Differ:
    return Differ(backend.endpoint, prefix)


@pytest.fixture
def offline(prefix: bytes) -> Differ:
    """For commands that never connect (help, usage): one run, no server behind the endpoint."""
    return Differ("127.0.0.1:1", prefix)
