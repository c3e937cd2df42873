"""Fixtures of the command-line tests: ``differ`` plays a scenario through etcdctl 3.5.1 and
through ``etcd3py``'s CLI, on the test's backend, and requires the same transcripts."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

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
    def __init__(self, endpoint: str, prefix: bytes, **client_options: Any) -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        self.client_options = client_options  # for the scenario's own client (TLS, auth)

    def scenario(self, steps: Steps) -> list[str]:
        """Run ``steps`` with each tool under its own prefix; the transcripts must match."""
        theirs, ours = prefixes(self.prefix)
        options = self.client_options
        expected = Scenario(self.endpoint, theirs, ours=False, client_options=options).start()
        steps(expected)
        actual = Scenario(self.endpoint, ours, ours=True, client_options=options).start()
        steps(actual)
        theirs_text, ours_text = "\n".join(expected.transcript), "\n".join(actual.transcript)
        if ours_text != theirs_text:
            diff = difflib.unified_diff(
                theirs_text.splitlines(), ours_text.splitlines(), "etcdctl", "etcd3py", lineterm=""
            )
            raise AssertionError("transcripts differ:\n" + "\n".join(diff))
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
