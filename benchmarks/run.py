"""Run every benchmark against one etcd 3.5.1 and print the comparison.

    python benchmarks/run.py [--quick] [--clients KEY,...] [--workloads KEY,...]

With no --workloads it runs everything: the put/get/watch/lease/mutex workloads, then
what etcd3py adds per call (benchmarks/overhead.py), then the scaling curves
(benchmarks/scaling.py), into one report.

Starts etcd, creates the peers' virtualenvs on first use, runs each (workload,
client) pair in a worker process of its own, prints a markdown report and writes it
to benchmarks/results.md. A client that cannot be installed or fails is reported as
unavailable, with the reason, and the run goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import queue  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import IO, Any, TypeVar  # noqa: E402

from benchmarks.etcd_server import EtcdServer  # noqa: E402
from benchmarks.model import FULL, QUICK, WORKLOADS, Outcome, Settings, Workload  # noqa: E402
from benchmarks.peers import ClientSpec, Unavailable, clients, interpreter  # noqa: E402
from benchmarks.report import RunInfo, render  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results.md"
EXTRAS = ("overhead", "scaling")  # run after the workloads, each by a module of its own
WORKER_TIMEOUT = 300.0  # seconds one worker may take
READY_TIMEOUT = 30.0  # seconds a watcher may take to create its watch
T = TypeVar("T")
_TICKS = os.sysconf("SC_CLK_TCK")


class WorkerFailed(Exception):
    """A worker exited without a result; the message says why."""


def main(argv: list[str] | None = None) -> None:
    args_in = sys.argv[1:] if argv is None else argv
    if "--workloads" in args_in and args_in[args_in.index("--workloads") + 1 :][:1] == ["scaling"]:
        from benchmarks import scaling  # the scaling curves alone, with their own flags

        rest = list(args_in)
        del rest[rest.index("--workloads") : rest.index("--workloads") + 2]
        scaling.main(rest)
        return
    all_clients, keys = clients(), [w.key for w in WORKLOADS]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer ops, shorter windows, fewer sizes")
    p.add_argument("--clients", help="comma-separated: " + ",".join(c.key for c in all_clients))
    p.add_argument(
        "--workloads",
        help="comma-separated: " + ",".join([*keys, *EXTRAS]) + " (default: all); "
        "`scaling` alone also takes benchmarks/scaling.py's flags",
    )
    p.add_argument("--output", type=Path, default=RESULTS, help="markdown report path")
    args = p.parse_args(argv)
    settings = QUICK if args.quick else FULL
    chosen = _pick(all_clients, args.clients, lambda c: c.key)
    wanted = {w for w in _pick([*keys, *EXTRAS], args.workloads, lambda k: k)}
    workloads = [w for w in WORKLOADS if w.key in wanted]
    sections: list[str] = []
    if workloads:
        sections.append(_run_workloads(args, argv, settings, chosen, workloads))
    if "overhead" in wanted:
        from benchmarks import overhead

        _progress("[overhead] etcd3py's own CPU per call, against an in-process fake")
        sections.append("\n".join(overhead.section(overhead.measure())) + "\n")
    if "scaling" in wanted:
        from benchmarks import scaling

        scaling_args = (
            ["--rounds", "1", "--max-size", "100000"] if args.quick else ["--rounds", "2"]
        )
        sections.append(scaling.main(scaling_args) + "\n")
    report = "\n".join(sections)
    args.output.write_text(report)
    _progress(f"written to {args.output}")


def _run_workloads(
    args: argparse.Namespace,
    argv: list[str] | None,
    settings: Settings,
    chosen: list[ClientSpec],
    workloads: list[Workload],
) -> str:
    """Every chosen client on every workload, interleaved: the report's main part."""
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    log = Path(tempfile.gettempdir()) / "etcd3py-bench-pip.log"
    pythons: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for spec in chosen:
        try:
            pythons[spec.key] = interpreter(spec, log)
        except Unavailable as err:
            unavailable[spec.key] = str(err)
            _progress(f"{spec.label}: unavailable: {err}")

    results = {
        (w.key, c.key): Outcome(c) for w in workloads for c in chosen if w.raw_stubs or not c.floor
    }
    for (workload_key, client), outcome in results.items():
        cannot = outcome.spec.cannot(workload_key)
        outcome.error = unavailable.get(client) or (cannot and f"not supported: {cannot}")
    with EtcdServer() as server:
        etcd_version = server.version()
        _progress(f"etcd {etcd_version} at {server.endpoint}")
        for round_no in range(settings.rounds):
            for workload in workloads:
                if workload.key == "leases" and round_no >= settings.lease_rounds:
                    continue
                shift = round_no % len(chosen)  # rotate: no client always runs first
                for spec in chosen[shift:] + chosen[:shift]:
                    found = results.get((workload.key, spec.key))
                    if found is None:  # not run by this client
                        continue
                    if found.error is None:
                        server.reset()
                        _measure(found, workload, settings, server, pythons[spec.key])
                    _progress(f"round {round_no + 1}: {_summary(workload, found)}")

    command = "python benchmarks/run.py" + (" " + shlex.join(argv or sys.argv[1:])).rstrip()
    info = RunInfo(command.strip(), started, _machine(), etcd_version)
    report = render(info, settings, chosen, workloads, results)
    print(report)
    return report


def _pick(items: list[T], wanted: str | None, key: Callable[[T], str]) -> list[T]:
    """The items named in ``wanted`` (comma-separated), or all of them."""
    if not wanted:
        return items
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = set(names) - {key(i) for i in items}
    if unknown:
        raise SystemExit(f"unknown: {', '.join(sorted(unknown))}")
    return [i for i in items if key(i) in names]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _summary(workload: Workload, outcome: Outcome) -> str:
    head = f"[{workload.key}] {outcome.spec.label}:"
    if not outcome.ok:
        return f"{head} unavailable: {outcome.error}"
    if workload.key == "leases":
        return f"{head} {outcome.cpu_per_s * 1000:.1f} ms CPU/s, min TTL {outcome.info['min_ttl']}"
    if workload.key == "mutex":
        s, info = outcome.samples[-1], outcome.info
        violated = f", {info['violations']} EXCLUSION VIOLATIONS" if info["violations"] else ""
        return (
            f"{head} {outcome.last()}, per contender {s['min']:.0f}-{s['max']:.0f}, "
            f"{info['timeouts']} timed-out acquires, at most {info['peak_leases']} leases"
            f"{violated}"
        )
    return f"{head} {outcome.last()}"


def _worker_args(workload: Workload, settings: Settings, endpoint: str, prefix: str) -> list[str]:
    mutex = workload.key == "mutex"
    concurrency = settings.mutex_contenders if mutex else settings.concurrency
    args = [
        f"--endpoint={endpoint}",
        f"--workload={workload.key}",
        f"--prefix={prefix}",
        f"--key-size={settings.key_size}",
        f"--value-size={settings.value_size}",
        f"--concurrency={concurrency}",
        f"--repeats={settings.repeats}",
    ]
    if workload.key == "watch":
        return [*args, f"--ops={settings.watch_events}", f"--warmup={settings.watch_warmup}"]
    if workload.key == "leases":
        return [
            *args,
            f"--leases={settings.leases}",
            f"--ttl={settings.lease_ttl}",
            f"--window={settings.lease_window}",
        ]
    if mutex:
        return [
            *args,
            f"--ttl={settings.mutex_ttl}",
            f"--window={settings.mutex_window}",
            f"--warmup-time={settings.mutex_warmup}",
        ]
    return [*args, f"--ops={settings.ops}", f"--warmup={settings.warmup}"]


def _env() -> dict[str, str]:
    """The workers' environment: nothing that could mix one venv's packages into another."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _measure(
    outcome: Outcome, workload: Workload, settings: Settings, server: EtcdServer, python: str
) -> None:
    """One more worker run of ``workload``: its samples, or the reason it failed."""
    spec = outcome.spec
    prefix = f"/bench/{workload.key}/{spec.key}/"
    args = _worker_args(workload, settings, server.endpoint, prefix)
    command = [python, "-m", spec.module, *args]
    leases = LeaseWatch(server, enabled=workload.key == "mutex")
    try:
        with LoadProbe(server.pid) as probe, leases:
            if workload.key == "watch":
                writes = settings.watch_warmup + settings.watch_events * settings.repeats
                result = _run_watch(command, server.endpoint, prefix, writes, settings)
            else:
                result = _run_worker(command)
    except WorkerFailed as err:
        outcome.error = str(err)
        return
    if leases.enabled:
        result["peak_leases"] = leases.peak  # what the locks granted and left alive
    outcome.samples.extend(result.pop("samples"))
    outcome.other_load.append(probe.other_cores)
    outcome.info = result
    outcome.runs.append(result)


class LeaseWatch:
    """The most leases alive in etcd at once while a worker runs (polled every 0.5 s)."""

    def __init__(self, server: EtcdServer, enabled: bool) -> None:
        self.server, self.enabled, self.peak = server, enabled, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        while True:
            self.peak = max(self.peak, self.server.lease_count())
            if self._stop.wait(0.5):
                return

    def __enter__(self) -> LeaseWatch:
        if self.enabled:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()


class LoadProbe:
    """CPU that processes other than etcd, the workers and this one used meanwhile.

    The machine may be shared: this says how much of it was busy elsewhere while a
    client was measured (in cores, averaged over the worker's whole run).
    """

    def __init__(self, etcd_pid: int) -> None:
        self.etcd_pid = etcd_pid
        self.other_cores = 0.0

    def _ours(self) -> float:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # workers, once reaped
        return children.ru_utime + children.ru_stime + time.process_time() + self._etcd()

    def _etcd(self) -> float:
        try:
            fields = Path(f"/proc/{self.etcd_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime

    @staticmethod
    def _busy() -> float:
        """CPU seconds the whole machine spent busy (steal included) since boot."""
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except OSError:
            return 0.0
        idle = values[3] + values[4]  # idle + iowait
        guest = sum(values[8:10])  # already counted in user and nice
        return (sum(values) - idle - guest) / _TICKS

    def __enter__(self) -> LoadProbe:
        self._start = (time.monotonic(), self._busy(), self._ours())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, ours0 = self._start
        wall = time.monotonic() - wall0
        other = (self._busy() - busy0) - (self._ours() - ours0)
        self.other_cores = max(0.0, other / wall) if wall > 0 else 0.0


def _run_worker(command: list[str]) -> dict[str, Any]:
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=WORKER_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise WorkerFailed(f"no result within {WORKER_TIMEOUT:g}s") from None
    return _parse(done.returncode, done.stdout, done.stderr)


def _parse(returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    tail = [t for t in stderr.strip().splitlines() if t.strip()][-3:]
    raise WorkerFailed(f"exit {returncode}: " + (" | ".join(tail) or "no output"))


def _run_watch(
    command: list[str], endpoint: str, prefix: str, writes: int, settings: Settings
) -> dict[str, Any]:
    """Start the watcher, wait for READY, run the writer, then collect the watcher's result."""
    stderr: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
    watcher = subprocess.Popen(
        command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(watcher.stdout, lines), daemon=True)
    reader.start()
    collected: list[str] = []
    try:
        if not _wait_ready(lines, collected):
            raise WorkerFailed(_why(watcher, stderr, "watch not created"))
        writer = [
            sys.executable,
            "-m",
            "benchmarks.workers.writer",
            f"--endpoint={endpoint}",
            f"--prefix={prefix}",
            f"--count={writes}",
            f"--key-size={settings.key_size}",
            f"--value-size={settings.value_size}",
        ]
        try:
            done = subprocess.run(
                writer, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=WORKER_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise WorkerFailed(f"the writer took over {WORKER_TIMEOUT:g}s") from None
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise WorkerFailed(f"the writer failed (exit {done.returncode}): {tail}")
        try:
            watcher.wait(WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
            raise WorkerFailed(f"watcher got fewer than {writes} events") from None
        collected.extend(iter(lines.get, None))  # the rest, up to the end of its output
        stderr.seek(0)
        return _parse(watcher.returncode, "\n".join(collected), stderr.read())
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        stderr.close()


def _read_lines(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
    if stream is not None:
        for line in stream:
            lines.put(line.rstrip("\n"))
    lines.put(None)


def _wait_ready(lines: queue.Queue[str | None], collected: list[str]) -> bool:
    while True:
        try:
            line = lines.get(timeout=READY_TIMEOUT)
        except queue.Empty:
            return False
        if line is None:
            return False
        if line == "READY":
            return True
        collected.append(line)


def _why(watcher: subprocess.Popen[str], stderr: IO[str], default: str) -> str:
    stderr.seek(0)
    tail = [t for t in stderr.read().strip().splitlines() if t.strip()][-3:]
    return f"{default}: exit {watcher.poll()}: " + (" | ".join(tail) or "no output")


def _machine() -> list[tuple[str, str]]:
    cpus, model = len(os.sched_getaffinity(0)), "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        ("machine", f"{cpus} CPUs (nproc), {model}, {platform.system()} {platform.release()}"),
        ("python (orchestrator)", f"{platform.python_version()} ({sys.executable})"),
        ("etcd3py source", _source_state()),
    ]


def _source_state() -> str:
    """The commit measured, and whether the working tree differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "etcd3py", "recipes")
    return f"git {commit}" + (" with uncommitted changes in etcd3py/" if dirty else "")


if __name__ == "__main__":
    main()
