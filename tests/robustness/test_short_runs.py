"""A short robustness run per target: traffic under failpoints, then the checkers.

A failure prints the run's summary and seed; ``python -m tests.robustness --target T
--seed N`` replays the same choices (thread timing aside).
"""

from __future__ import annotations

import pytest

from etcd3py import (
    ConnectionFailedError,
    DeadlineExceededError,
    NoLeaderError,
    ProposalDroppedError,
    ServerTimeoutError,
    UnavailableError,
)
from tests.conftest import BACKENDS
from tests.robustness.runner import run
from tests.robustness.traffic import not_applied

DURATION = 20.0
SEEDS = {"server_ref": 1301, "etcd": 1302}


def test_only_errors_that_prove_nothing_was_applied_count_as_failed() -> None:
    assert not_applied(ProposalDroppedError("raft proposal dropped"))
    assert not_applied(NoLeaderError("etcdserver: no leader"))
    # a timeout or a cut connection may hide an applied write
    assert not not_applied(ServerTimeoutError("etcdserver: request timed out"))
    assert not not_applied(DeadlineExceededError("deadline"))
    assert not not_applied(UnavailableError("connection reset"))
    # "no endpoint reached" counts only when gRPC says the request was never sent
    assert not not_applied(ConnectionFailedError("no endpoint could be reached"))


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize("target", BACKENDS)
def test_short_run_under_failpoints(target: str) -> None:
    result = run(target, DURATION, SEEDS[target], clients=3)
    report = result.summary()
    print(report)  # shown on failure
    assert not result.problems, report
    assert len(result.history.ops) >= 500, report
    assert len(result.fired_ok) >= 2, report
    writes = sum(1 for op in result.history.ops if op.kind != "get" and op.ret is not None)
    for start, events in result.history.watches.values():
        assert events, report
        assert events[0].mod_revision >= start, report
    assert writes > 0, report
    failing = {name: v for name, v in result.verdicts.results.items() if not v.ok}
    assert not failing, report
    if result.verdicts.missing:
        pytest.skip(f"checker modules absent, not checked: {result.verdicts.missing}")
