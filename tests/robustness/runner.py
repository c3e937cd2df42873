"""One robustness run: start a cluster, run traffic under failpoints, check the history."""

from __future__ import annotations

import base64
import importlib
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .failpoints import Fired, Injector, RefTarget, start_target
from .history import History
from .member_checks import check_members
from .recipe_checks import check_recipes
from .recipe_history import RecipeRecords
from .recipe_traffic import RecipeTraffic
from .traffic import DEFAULT_RATE, REPEAT_WRITES, STALE_READS, Clock, Traffic, sum_counts

PROFILES = ("kv", "recipes", "all")  # KV traffic and watchers, recipe workloads, or both


@dataclass
class Verdicts:
    """The checkers' answers; a checker whose module is missing is named in ``missing``."""

    results: dict[str, Any] = field(default_factory=dict)  # name -> Verdict(ok, explanation)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(bool(v.ok) for v in self.results.values())


@dataclass
class RunResult:
    target: str
    seed: int
    duration: float
    history: History
    fired: list[Fired]
    problems: list[str]  # the harness's own failures (a crashed client, a cluster that stayed down)
    errors: dict[str, int]  # client errors by type
    verdicts: Verdicts
    recipes: RecipeRecords | None = None  # what the recipe workloads saw, if they ran

    @property
    def unknown(self) -> int:
        return sum(1 for op in self.history.ops if op.ret is None)

    @property
    def failed(self) -> int:
        return sum(1 for op in self.history.ops if op.failed)

    @property
    def fired_ok(self) -> list[Fired]:
        return [f for f in self.fired if f.error is None]

    def summary(self) -> str:
        ops = self.history.ops
        kinds: dict[str, int] = {}
        for op in ops:
            kinds[op.kind] = kinds.get(op.kind, 0) + 1
        events = {w: len(ev) for w, (_, ev) in self.history.watches.items()}
        names: dict[str, int] = {}
        for f in self.fired_ok:
            names[f.name] = names.get(f.name, 0) + 1
        lines = [f"target {self.target}, seed {self.seed}, {self.duration:.0f} s"]
        if ops or events:  # (a recipes-only run has no KV traffic)
            lines += [
                f"ops: {len(ops)} {kinds}; not applied {self.failed},"
                f" unknown outcome {self.unknown}",
                f"watch events by watcher: {events}",
            ]
        lines += [
            f"client errors: {self.errors}",
            f"failpoints fired: {len(self.fired_ok)} {names};"
            f" refused: {len(self.fired) - len(self.fired_ok)}",
        ]
        lines += [f"  refused {f.name}: {f.error}" for f in self.fired if f.error]
        if self.recipes is not None:
            lines += recipe_lines(self.recipes)
        lines += [f"harness problem: {p}" for p in self.problems]
        for name, verdict in self.verdicts.results.items():
            state = "ok" if verdict.ok else "VIOLATION"
            lines.append(f"{name}: {state} {verdict.explanation or ''}".rstrip())
        lines += [f"{name}: not checked (module absent)" for name in self.verdicts.missing]
        return "\n".join(lines)


# (name, module, function) of each checker; run only when its module exists
CHECKERS = (
    ("linearizability", "tests.robustness.linearizability", "check"),
    ("watches", "tests.robustness.watch_checks", "check_watches"),
)


def recipe_lines(records: RecipeRecords) -> list[str]:
    """The recipe workloads in figures, for the summary."""

    def outcomes(items: list[Any]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in items:
            counts[item.outcome] = counts.get(item.outcome, 0) + 1
        return counts

    lost = [lease for lease in records.leases if lease.lost_at is not None]
    return [
        f"lock workload: {len(records.acquisitions)} holdings, fenced writes"
        f" {outcomes(records.fenced_writes)}, loss notices {len(records.loss_notices)}",
        f"election workload: {len(records.leaderships)} leaderships, proclamations"
        f" {outcomes(records.proclamations)}, observations {len(records.observations)},"
        f" converged {records.converged}",
        f"queue workload: enqueues {outcomes(records.enqueues)},"
        f" deliveries {len(records.deliveries)},"
        f" acks {outcomes(records.acks)}, drained {records.drained}",
        f"lease workload: {len(records.leases)} kept alive, {len(lost)} reported lost"
        f" {sorted({lease.lost_reason or '' for lease in lost})}",
    ]


def check(history: History | None, recipes: RecipeRecords | None = None) -> Verdicts:
    """Run the KV checkers on ``history`` and the recipe checkers on ``recipes``
    (each when given)."""
    verdicts = Verdicts()
    if recipes is not None:
        verdicts.results.update(check_recipes(recipes))
    if history is None:
        return verdicts
    for name, module_name, function in CHECKERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise  # the checker exists but is broken: say so
            verdicts.missing.append(name)
            continue
        checker: Callable[[History], Any] = getattr(module, function)
        verdicts.results[name] = checker(history)
    return verdicts


def run(
    target_name: str,
    duration: float,
    seed: int,
    clients: int,
    rate: float = DEFAULT_RATE,
    say: Callable[[str], None] = print,
    profile: str = "all",
    broken: str | None = None,
    failpoints: Sequence[str] | None = None,
) -> RunResult:
    """One run of ``profile`` (see PROFILES) against a fresh cluster of ``target_name``.
    ``broken`` names a deliberate bug (traffic.BROKEN_MODES) the checkers must flag;
    ``failpoints`` limits the schedule to those names."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (one of {PROFILES})")
    say(
        f"robustness run: target {target_name}, profile {profile}, seed {seed}"
        f" (replay with --seed {seed})"
    )
    target = start_target(target_name, seed)
    try:
        if broken == STALE_READS:
            if not isinstance(target, RefTarget):
                raise ValueError(f"{STALE_READS} is a server_ref mode, not {target_name}'s")
            target.cluster.serve_stale_reads()
        traffic = (
            Traffic(target.endpoints, seed, clients, rate, repeat_writes=broken == REPEAT_WRITES)
            if profile != "recipes"
            else None
        )
        clock = traffic.clock if traffic is not None else Clock()
        # without KV watchers nothing holds compaction back: it may go to the head
        compactable = traffic.watched_revision if traffic is not None else lambda: sys.maxsize
        recipes = RecipeTraffic(target.endpoints, seed, clock) if profile != "kv" else None
        injector = Injector(target, seed, clock, compactable, only=failpoints)
        for workload in (traffic, recipes):
            if workload is not None:
                workload.start()
        injector.start()
        threading.Event().wait(duration)  # the run's length: the workload itself
        injector.stop()
        if traffic is not None:
            traffic.stop_clients()  # while the recipe workloads settle, no more KV calls
        records, problems = recipes.finish() if recipes is not None else (None, [])
        history, kv_problems = traffic.finish() if traffic is not None else (History([]), [])
        problems = kv_problems + problems
        if injector.problem:
            problems.insert(0, injector.problem)
        members = check_members(target.endpoints)
    finally:
        target.stop()
    verdicts = check(history if traffic is not None else None, records)
    verdicts.results["members"] = members
    errors = sum_counts(w.error_counts() for w in (traffic, recipes) if w is not None)
    return RunResult(
        target_name, seed, duration, history, injector.fired, problems, errors, verdicts, records
    )


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save(result: RunResult, path: Path) -> None:
    """The run as JSON: history, failpoints, verdicts (bytes as text, else base64)."""
    doc = {
        "target": result.target,
        "seed": result.seed,
        "duration": result.duration,
        "ops": [asdict(op) for op in result.history.ops],
        "watches": {
            w: {"start": start, "events": [asdict(e) for e in events]}
            for w, (start, events) in result.history.watches.items()
        },
        "failpoints": [asdict(f) for f in result.fired],
        "problems": result.problems,
        "recipes": asdict(result.recipes) if result.recipes is not None else None,
        "verdicts": {
            name: {"ok": bool(v.ok), "explanation": str(v.explanation)}
            for name, v in result.verdicts.results.items()
        },
    }
    path.write_text(json.dumps(_plain(doc), indent=1))
