"""``check perf``'s refusals through etcdctl 3.5.1 and ``etcd3py``. A run lasts etcdctl's
fixed 60 seconds (no flag shortens it), too long for the suite: docs/cli.md has a
measured one."""

from __future__ import annotations

import pytest

from etcd3py import Client
from tests.cli.conftest import Differ


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["check", "perf", "--load=bogus"],
        ["check", "perf", "--load=XL"],
        ["check", "perf", "x", "--load=q"],
        ["check", "perf", "--auto-compact=maybe"],
        ["check", "datascale", "--help"],
    ],
    ids=" ".join,
)
def test_bad_input(differ: Differ, args: list[str]) -> None:
    differ.same(*args)


def test_prefix_with_keys_is_refused(differ: Differ) -> None:
    with Client(differ.endpoint) as client:
        client.put(differ.prefix + b"perf/k", b"v")
    run = differ.same("check", "perf", "--prefix={p}perf/")
    assert run.code == 3 and b"has keys" in run.stderr.encode()
