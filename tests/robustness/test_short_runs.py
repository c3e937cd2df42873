"""A short robustness run per target: traffic under failpoints, then the checkers.

A failure prints the run's summary and seed; ``python -m tests.robustness --target T
--seed N`` replays the same choices (thread timing aside).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from tests.robustness.failpoints import start_target
from tests.robustness.history import History, Op
from tests.robustness.recipe_checks import check_lock
from tests.robustness.recipe_history import FencedWrite, RecipeRecords
from tests.robustness.recipe_traffic import RecipeTraffic
from tests.robustness.runner import RunResult, check, run, save
from tests.robustness.traffic import REPEAT_WRITES, STALE_READS, Clock, not_applied

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


RUN_TIMEOUT = 300.0  # seconds for the whole run, cluster start and checks included


def _xfail_on_etcd_3_5_1_divergence(run_doc: dict[str, Any], report: str) -> None:
    """etcd 3.5.0-3.5.2 saved its consistent index apart from the data it covers: a
    member killed under load may skip entries on restart and from then on hold other
    data than its peers at the same applied index (etcd-io/etcd#13766, fixed in 3.5.3).
    Seen once here in a fresh-clone run: one member 87 revisions behind the others at
    the same applied index after kill_leader, and the other verdicts failing as its
    consequences. A run whose members diverged after a kill is that bug of the oracle;
    every other failure on etcd still fails."""
    killed = any(
        f["error"] is None and f["name"].startswith("kill_") for f in run_doc["failpoints"]
    )
    if killed and not run_doc["verdicts"]["members"]["ok"]:
        pytest.xfail(f"etcd 3.5.1's members diverged after a kill (etcd-io/etcd#13766)\n{report}")


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.timeout(RUN_TIMEOUT + 60)
@pytest.mark.parametrize("target", BACKENDS)
def test_short_run_under_failpoints(target: str, tmp_path: Path) -> None:
    """A run in its own process, as ``python -m tests.robustness`` (the entry point a
    replay uses): whatever happens to it -- a violation, a crash, a hang -- its whole
    output is in the failure, which a run inside the test worker could not promise."""
    saved = tmp_path / "run.json"
    command = [
        sys.executable,
        "-m",
        "tests.robustness",
        *("--target", target, "--duration", str(DURATION), "--seed", str(SEEDS[target])),
        *("--clients", "3", "--save", str(saved)),
    ]
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            command, cwd=root, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the run took over {RUN_TIMEOUT:.0f} s; its output:\n{err.stdout}{err.stderr}")
    report = f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-20000:]}"
    if done.returncode != 0 and target == "etcd" and saved.exists():
        _xfail_on_etcd_3_5_1_divergence(json.loads(saved.read_text()), report)
    assert done.returncode == 0, report
    run_doc = json.loads(saved.read_text())
    assert not run_doc["problems"], report
    assert len(run_doc["ops"]) >= 500, report
    assert sum(1 for f in run_doc["failpoints"] if f["error"] is None) >= 2, report
    assert any(op["kind"] != "get" and op["ret"] is not None for op in run_doc["ops"]), report
    for watch in run_doc["watches"].values():
        assert watch["events"], report
        assert watch["events"][0]["mod_revision"] >= watch["start"], report
    recipes = run_doc["recipes"]  # the default profile runs the recipe workloads too
    for records in ("acquisitions", "leaderships", "deliveries", "leases"):
        assert recipes[records], report
    assert run_doc["verdicts"] and all(v["ok"] for v in run_doc["verdicts"].values()), report


# (target, deliberate bug, failpoints, the checker that must flag it)
BROKEN = (
    ("server_ref", REPEAT_WRITES, None, "watches"),
    ("etcd", REPEAT_WRITES, None, "watches"),
    # a follower cut off from the leader answers linearizable reads from its old state
    ("server_ref", STALE_READS, ["partition_follower"], "linearizability"),
)


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.parametrize(("target", "broken", "failpoints", "checker"), BROKEN)
def test_a_deliberately_broken_run_is_flagged(
    target: str, broken: str, failpoints: list[str] | None, checker: str
) -> None:
    """The checkers on real runs, not only on made-up histories: a client that repeats
    its writes, a server that serves stale reads, and the run fails naming the bug."""
    result = run(target, 12.0, 1310, clients=3, profile="kv", broken=broken, failpoints=failpoints)
    report = result.summary()
    print(report)
    assert not result.problems, report
    assert not result.verdicts.results[checker].ok, report


@dataclass(frozen=True)
class _Verdict:
    ok: bool
    explanation: str


def test_a_checker_verdict_reaches_the_run_and_a_missing_checker_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The runner's side of the checkers: a violation fails the run and is saved as JSON;
    a checker module that is absent is reported as not checked."""
    lin = types.ModuleType("tests.robustness.linearizability")
    lin.check = lambda history: _Verdict(False, f"{len(history.ops)} ops, one stale read")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, lin.__name__, lin)
    monkeypatch.setitem(sys.modules, "tests.robustness.watch_checks", None)  # absent
    op = Op(0, 0.0, 0.1, "get", b"/robustness/k0", revision=5, got_value=b"\xff", got_mod=3)
    history = History([op], {0: (2, [])})
    verdicts = check(history)
    assert not verdicts.ok
    assert verdicts.results["linearizability"].explanation == "1 ops, one stale read"
    assert verdicts.missing == ["watches"]
    result = RunResult("server_ref", 7, 1.0, history, [], [], {}, verdicts)
    assert "linearizability: VIOLATION 1 ops, one stale read" in result.summary()
    save(result, tmp_path / "run.json")
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["ops"][0]["key"] == "/robustness/k0"
    assert saved["ops"][0]["got_value"] == {"base64": "/w=="}
    assert saved["verdicts"]["linearizability"]["ok"] is False


def test_recipe_verdicts_and_records_reach_the_run(tmp_path: Path) -> None:
    """The recipe checkers run on the recipe records, their verdicts and figures join
    the summary, and save() writes the records."""
    records = RecipeRecords(fenced_writes=[FencedWrite("a", 10, 1.0, 1.1, "ok", 11)])
    verdicts = check(None, records)  # a recipes-only run: no KV checkers
    assert sorted(verdicts.results) == ["election", "leases", "lock", "queue"]
    assert not verdicts.results["lock"].ok  # a write with a token nobody held
    result = RunResult("etcd", 3, 1.0, History([]), [], [], {}, verdicts, records)
    summary = result.summary()
    assert "lock: VIOLATION write by a with token 10 it never held" in summary
    assert "lock workload: 0 holdings, fenced writes {'ok': 1}" in summary
    save(result, tmp_path / "run.json")
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["recipes"]["fenced_writes"][0]["token"] == 10
    assert saved["verdicts"]["lock"]["ok"] is False


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        run("server_ref", 1.0, 1, clients=1, profile="everything")


@pytest.mark.slow
@pytest.mark.cluster
def test_the_lock_checker_flags_a_broken_holder_on_a_real_cluster() -> None:
    """Holders writing without the fencing compare, and after their release, interleave
    with the next holder's writes on a real (server_ref) cluster: the checker says so."""
    target = start_target("server_ref", 1303)
    try:
        recipes = RecipeTraffic(target.endpoints, 1303, Clock(), broken_lock=True)
        recipes.start()
        deadline = time.monotonic() + 30.0
        while len(recipes.records.acquisitions) < 6:  # holders took turns a few times
            assert time.monotonic() < deadline, "the lock holders made no progress"
            time.sleep(0.1)  # polling the workload's progress, under a deadline
        records, problems = recipes.finish()
    finally:
        target.stop()
    assert not problems, problems
    verdict = check_lock(records)
    assert not verdict.ok
    assert "after" in verdict.explanation and "newer token" in verdict.explanation
