"""server_ref against real etcd 3.5.1: put and get throughput at concurrency 64.

    python benchmarks/server_compare.py [--runs 3] [--duration 5] [--clients 2] [--profile]

Each server runs as a process of its own on loopback, in each durability mode:
fsync on (etcd's default; server_ref --data-dir), no fsync (etcd --unsafe-no-fsync;
server_ref --data-dir --unsafe-no-fsync) and, server_ref only, in memory (no
--data-dir); beside them "floor" (workers/floor_server.py), a grpc.aio server that
stores nothing: what any Python gRPC server pays before its own work. Command lines
are templates (--command); a mode whose flags the server's --help does not list is
reported as not supported, and the run goes on.

The load: --clients processes (benchmarks/workers/server_load.py) share the 64 calls
in flight, as asyncio tasks on the generated grpc.aio KV stub. Each run starts every
server afresh (order rotated run by run), writes the keys the gets read, then
measures puts and gets, --duration seconds each after the warm-up; etcd without
fsync and server_ref in memory then also take puts from 1, 2, 4 client processes
(--check-clients), to show what the load generator changes. --profile then samples
server_ref under the put load (perf, py-spy). The report (markdown) goes to stdout
and to benchmarks/server_results.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import datetime  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402

import grpc  # noqa: E402

from benchmarks import server_profile  # noqa: E402
from benchmarks.server_measure import Load, LoadFailed, Sample, measure, quiet_measure  # noqa: E402
from benchmarks.server_procs import (  # noqa: E402
    COMMANDS,
    MODES,
    Server,
    ServerSpec,
    load_average,
    parse_pin,
    preload,
)
from benchmarks.server_report import COLUMNS, machine, row, source_state  # noqa: E402
from benchmarks.workers.server_load import get_keys  # noqa: E402

RESULTS = ROOT / "benchmarks" / "server_results.md"
PROFILE_DIR = ROOT / ".cache" / "server-profile"
PROFILE_SECONDS = 20.0  # the profiled window: perf the first half, py-spy the second
OPS = ("put", "get")
TARGET = 0.5  # issue 9: server_ref at least half of etcd's throughput
CHECKED = (("etcd", "nofsync"), ("server_ref", "memory"))  # the load-generator check's servers


@dataclass
class Line:
    """Every run's sample of one (server, mode, op), or why there is none."""

    spec: ServerSpec
    op: str
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None


@dataclass
class Plan:
    specs: list[ServerSpec]
    load: Load
    runs: int
    check_clients: tuple[int, ...]
    data_root: Path | None
    server_cpus: frozenset[int] | None
    profile: str | None  # server_ref mode to profile, or None
    max_other: float = 0.25  # cores busy elsewhere above which a window is measured again
    attempts: int = 3  # windows at most per line and run; the quietest is kept


Checks = dict[tuple[ServerSpec, int], list[Sample]]  # (server, client processes) -> runs


def run_all(plan: Plan) -> tuple[dict[tuple[str, str, str], Line], Checks, list[str]]:
    """Every runnable (server, mode) in every run; the load average before each run.

    In each run, the servers of the load-generator check (etcd without fsync,
    server_ref in memory) also take puts from 1, 2, 4... client processes.
    """
    lines = {(s.backend, s.mode, op): Line(s, op) for s in plan.specs for op in OPS}
    checks: Checks = {}
    runnable = []
    for spec in plan.specs:
        reason = spec.unsupported()
        if reason is None:
            runnable.append(spec)
            continue
        _progress(f"{spec.label}: {reason}")
        for op in OPS:
            lines[(spec.backend, spec.mode, op)].error = reason
    loads: list[str] = []
    keys = get_keys(plan.load.keyspace, plan.load.key_size)
    for run_no in range(plan.runs):
        loads.append(load_average())
        shift = run_no % max(1, len(runnable))
        for spec in runnable[shift:] + runnable[:shift]:
            try:
                with Server(spec, plan.data_root, plan.server_cpus) as server:
                    preload(server.endpoint, keys, b"v" * plan.load.value_size)
                    for op in OPS:
                        sample = quiet_measure(server, op, plan.load, plan.attempts, plan.max_other)
                        lines[(spec.backend, spec.mode, op)].samples.append(sample)
                        _progress(f"run {run_no + 1}: {spec.label} {op}: {sample.brief()}")
                    if (spec.backend, spec.mode) in CHECKED:
                        _check(server, plan, checks, lines[(spec.backend, spec.mode, "put")])
            except (RuntimeError, LoadFailed, grpc.RpcError) as err:
                _progress(f"run {run_no + 1}: {spec.label}: FAILED: {err}")
                for op in OPS:
                    lines[(spec.backend, spec.mode, op)].error = f"failed: {err}"
    loads.append(load_average())
    return lines, checks, loads


def _check(server: Server, plan: Plan, checks: Checks, put: Line) -> None:
    """Puts with each client-process count of the check (the run's own count: its sample)."""
    for n in plan.check_clients:
        if n == plan.load.clients:
            sample = put.samples[-1]
        else:
            sample = quiet_measure(
                server, "put", replace(plan.load, clients=n), plan.attempts, plan.max_other
            )
            _progress(f"  check: {put.spec.label} put, {n} client processes: {sample.brief()}")
        checks.setdefault((put.spec, n), []).append(sample)


def run_profile(plan: Plan, reproduce: str) -> str:
    """server_ref in ``plan.profile`` mode under the put load, sampled by perf and py-spy."""
    assert plan.profile is not None
    template = next(
        (s.template for s in plan.specs if s.backend == "server_ref" and s.mode == plan.profile),
        COMMANDS[("server_ref", plan.profile)],
    )
    spec = ServerSpec("server_ref", plan.profile, template)
    reason = spec.unsupported()
    if reason:
        return f"## Profile of server_ref {plan.profile}\n\n{reason}\n"
    profilers = server_profile.Profilers(PROFILE_DIR / plan.profile)
    with Server(spec, plan.data_root, plan.server_cpus) as server:
        sample = measure(
            server, "put", replace(plan.load, duration=PROFILE_SECONDS), during=profilers
        )
    _progress(f"profile: {spec.label} put: {sample.brief()}")
    section = server_profile.render(profilers, reproduce)
    return (
        section
        + f"\nDuring the profile: {sample.brief()} (the samplers take CPU too). Raw data: "
        + f"`{profilers.out_dir.relative_to(ROOT)}/`.\n"
    )


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- the report ----


def render_table(lines: dict[tuple[str, str, str], Line]) -> list[str]:
    out = [f"| server | mode | op | {COLUMNS} |", "|---" * 13 + "|"]
    for (backend, mode, op), line in lines.items():
        cells = row(line.samples) if line.samples else [line.error or "not run"] + [""] * 9
        out.append(f"| {backend} | {MODES[mode]} | {op} | " + " | ".join(cells) + " |")
    return out


def render_ratios(lines: dict[tuple[str, str, str], Line]) -> list[str]:
    """server_ref (and the floor, for reference) against etcd in the matching mode."""
    out = [
        "| server | mode | against etcd | op | throughput ratio (per-run min-max) "
        "| server CPU per op, this / etcd | ≥ 0.5x |",
        "|---|---|---|---|---|---|---|",
    ]
    pairs = [("server_ref", mode) for mode in MODES] + [("floor", "memory")]
    for backend, mode in pairs:
        etcd_mode = "nofsync" if mode == "memory" else mode
        for op in OPS:
            this, etcd = lines.get((backend, mode, op)), lines.get(("etcd", etcd_mode, op))
            if this is None or etcd is None:
                continue
            head = f"| {backend} | {MODES[mode]} | {MODES[etcd_mode]} | {op} |"
            if not this.samples or not etcd.samples:
                out.append(f"{head} {this.error or etcd.error or 'not run'} |  |  |")
                continue
            ratio = _median_ops(this) / _median_ops(etcd)
            runs = [
                r.ops_per_s / e.ops_per_s for r, e in zip(this.samples, etcd.samples, strict=True)
            ]
            cpu = _median_cpu(this) / _median_cpu(etcd)
            met = "yes" if ratio >= TARGET else "NO"
            out.append(
                f"{head} {ratio:.2f}x ({min(runs):.2f}-{max(runs):.2f}) | {cpu:.1f}x "
                f"| {met if backend == 'server_ref' else '(reference)'} |"
            )
    return out


def _median_ops(line: Line) -> float:
    return statistics.median(x.ops_per_s for x in line.samples)


def _median_cpu(line: Line) -> float:
    return statistics.median(x.us_per_op(x.server_cpu) for x in line.samples)


def render_check(checks: Checks) -> list[str]:
    out = [f"| server | mode | client processes | {COLUMNS} |", "|---" * 13 + "|"]
    for (spec, n), samples in sorted(
        checks.items(), key=lambda item: (item[0][0].label, item[0][1])
    ):
        cells = row(samples)
        out.append(f"| {spec.backend} | {MODES[spec.mode]} | {n} | " + " | ".join(cells) + " |")
    return out


def render(
    plan: Plan,
    lines: dict[tuple[str, str, str], Line],
    loads: list[str],
    checks: Checks,
    command: str,
    started: str,
) -> str:
    load = plan.load
    pin = (
        f"server on CPUs {sorted(plan.server_cpus)}, load workers on CPUs {sorted(load.cpus)}"
        if plan.server_cpus is not None and load.cpus is not None
        else "unpinned: servers, load workers and other processes share every CPU"
    )
    out = [
        "# server_ref against etcd 3.5.1: puts and gets at concurrency 64\n",
        f"- command: `{command}`",
        f"- started {started}; load average (1, 5, 15 min) before each run, then at the end: "
        + "; ".join(loads),
        f"- machine: {machine()}; {pin}",
        f"- etcd3py source: {source_state()}",
        f"- load: {load.clients} client processes sharing {load.concurrency} calls in flight "
        f"(asyncio tasks on the generated grpc.aio KV stub, {load.channels} channel per "
        f"process, 5 s deadline per call); keys {load.key_size} B, values {load.value_size} B; "
        f"puts of unique keys; gets (linearizable) cycling over {load.keyspace} keys written "
        f"before; {load.duration:g} s measured per line and run, after each task's 50-call "
        f"warm-up; {plan.runs} runs, each starting every server afresh",
        "- figures: median of the runs (min-max). ops/s and latencies: calls completed in the "
        "window. CPU: /proc/<pid>/stat, user + system, all threads, over the window; µs/op "
        "divides by the ops completed, cores by the window. busiest thread: CPU of the "
        "server's busiest thread (server_ref's event loop), in cores. other: cores busy with "
        "processes other than the server, the load workers and the orchestrator (the noise "
        f"of a shared machine); a window with more than {plan.max_other:g} other cores was "
        f"measured again, up to {plan.attempts} windows, and the quietest kept "
        "(windows kept/measured)\n",
        *render_table(lines),
        "\n## server_ref / etcd (target: throughput ≥ 0.5x)\n",
        *render_ratios(lines),
    ]
    if checks:
        out += [
            "\n## The load generator: puts at concurrency 64 by client processes "
            "(in each run, on the same server process)\n",
            *render_check(checks),
        ]
    out.append("\n## Server command lines\n")
    out += [f"- {s.label}: `{s.template}`" for s in plan.specs]
    return "\n".join(out) + "\n"


# ---- command line ----


def parse_plan(argv: list[str] | None) -> tuple[Plan, Path]:
    names = [f"{b}/{m}" for b, m in COMMANDS]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per line")
    p.add_argument("--clients", type=int, default=2, help="load-generator processes")
    p.add_argument("--concurrency", type=int, default=64, help="calls in flight, all clients")
    p.add_argument("--channels", type=int, default=1, help="grpc.aio channels per client")
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument(
        "--servers", default=",".join(names), help="comma-separated among: " + ", ".join(names)
    )
    p.add_argument(
        "--command",
        action="append",
        default=[],
        metavar="BACKEND/MODE=TEMPLATE",
        help="a server's command line, with {etcd} {python} {client_url} {peer_url} "
        "{data_dir}; the defaults:\n"
        + "\n".join(f"  {b}/{m}={t}" for (b, m), t in COMMANDS.items()),
    )
    p.add_argument("--check-clients", default="1,2,4", help="client processes to check ('' skips)")
    p.add_argument(
        "--profile",
        nargs="?",
        const="memory",
        choices=list(MODES),
        help="then profile server_ref in this mode (default memory) under the put load",
    )
    p.add_argument(
        "--max-other",
        type=float,
        default=0.25,
        help="measure a window again if other processes kept more cores busy (default 0.25)",
    )
    p.add_argument("--attempts", type=int, default=3, help="windows at most per line and run")
    p.add_argument("--pin", metavar="SERVER_CPUS:CLIENT_CPUS", help="e.g. 0:1 (default: unpinned)")
    p.add_argument("--data-root", type=Path, help="where data directories go (default: TMPDIR)")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    templates = dict(COMMANDS)
    for item in args.command:
        name, _, template = item.partition("=")
        backend, _, mode = name.partition("/")
        if (backend, mode) not in templates or not template.strip():
            p.error(
                f"--command {item!r}: expected BACKEND/MODE=TEMPLATE, BACKEND/MODE among {names}"
            )
        templates[(backend, mode)] = template
    specs = []
    for name in args.servers.split(","):
        backend, _, mode = name.strip().partition("/")
        if (backend, mode) not in templates:
            p.error(f"--servers: unknown {name!r}")
        specs.append(ServerSpec(backend, mode, templates[(backend, mode)]))
    server_cpus = client_cpus = None
    if args.pin:
        try:
            server_cpus, client_cpus = parse_pin(args.pin)
        except ValueError as err:
            p.error(str(err))
    load = Load(
        clients=args.clients,
        concurrency=args.concurrency,
        duration=args.duration,
        channels=args.channels,
        value_size=args.value_size,
        cpus=client_cpus,
    )
    plan = Plan(
        specs=specs,
        load=load,
        runs=args.runs,
        check_clients=tuple(int(n) for n in args.check_clients.split(",") if n.strip()),
        data_root=args.data_root,
        server_cpus=server_cpus,
        profile=args.profile,
        max_other=args.max_other,
        attempts=args.attempts,
    )
    return plan, args.output


def main(argv: list[str] | None = None) -> None:
    plan, output = parse_plan(argv)
    words = sys.argv[1:] if argv is None else argv
    command = ("python benchmarks/server_compare.py " + shlex.join(words)).strip()
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines, checks, loads = run_all(plan)
    report = render(plan, lines, loads, checks, command, started)
    if plan.profile is not None:
        reproduce = (
            f"python benchmarks/server_compare.py --servers server_ref/{plan.profile} "
            f"--runs 0 --check-clients '' --profile {plan.profile}"
        )
        report += "\n" + run_profile(plan, reproduce)
    print(report)
    output.write_text(report)
    _progress(f"written to {output}")


if __name__ == "__main__":
    main()
