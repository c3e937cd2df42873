"""One measured window of ``server_compare.py``: load workers against one server.

The workers (benchmarks/workers/server_load.py) connect and warm up; once all are
ready they get the window's edges, and the CPU of the server, of the workers and of
the whole machine is read from /proc at those edges. Calls completed inside the
window give the throughput and the latencies.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from benchmarks.server_procs import (
    ROOT,
    Server,
    busiest,
    machine_busy,
    pinned,
    process_cpu,
    thread_cpu,
)

READY_TIMEOUT = 60.0  # seconds the workers may take to connect and warm up
END_TIMEOUT = 60.0  # seconds after the window for a worker to report
LEAD_IN = 0.2  # seconds between GO and the window's start


@dataclass(frozen=True)
class Load:
    """How the load is generated (the same for every server)."""

    clients: int  # worker processes
    concurrency: int  # calls in flight, all workers together
    duration: float  # seconds measured
    channels: int = 1  # grpc.aio channels per worker
    key_size: int = 64
    value_size: int = 256
    keyspace: int = 1000  # keys written beforehand, cycled over by the gets
    cpus: frozenset[int] | None = None  # pin the workers to these CPUs
    warmup: int = 50  # calls per task before the window may open
    worker_args: tuple[str, ...] = ()  # more flags for every worker (auth, TLS)


@dataclass
class Figures:
    """A measured window's calls: how many, over how long, and each one's latency."""

    ops: int
    seconds: float
    latencies_us: list[int]

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies_us)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000 if ordered else 0.0

    def us_per_op(self, cpu: float) -> float:
        return cpu / self.ops * 1e6 if self.ops else 0.0


@dataclass
class Sample(Figures):
    server_cpu: float
    client_cpu: float
    other_cpu: float  # processes other than the server, the workers and the orchestrator
    server_thread: float  # the server's busiest thread (server_ref: its event loop)
    client_thread: float  # the busiest thread of any worker
    attempts: int = 1  # windows measured to get this one (the quietest; see server_compare)

    def cores(self, cpu: float) -> float:
        return cpu / self.seconds

    def brief(self) -> str:
        return (
            f"{self.ops_per_s:,.0f} ops/s, p50 {self.percentile_ms(0.5):.2f} ms, "
            f"p99 {self.percentile_ms(0.99):.2f} ms; server {self.us_per_op(self.server_cpu):.0f}"
            f" us/op, {self.cores(self.server_cpu):.2f} cores (busiest thread "
            f"{self.cores(self.server_thread):.2f}); clients {self.us_per_op(self.client_cpu):.0f}"
            f" us/op, {self.cores(self.client_cpu):.2f} cores (busiest thread "
            f"{self.cores(self.client_thread):.2f}); other {self.cores(self.other_cpu):.2f} cores"
        )


class LoadFailed(Exception):
    """A load worker did not start, or failed; the message says why."""


@dataclass
class _Marks:
    at: float
    server: float
    clients: float
    machine: float
    own: float
    server_threads: dict[int, float]
    client_threads: list[dict[int, float]]

    @classmethod
    def take(cls, server_pid: int, client_pids: Sequence[int]) -> _Marks:
        return cls(
            at=time.monotonic(),
            server=process_cpu(server_pid),
            clients=sum(process_cpu(p) for p in client_pids),
            machine=machine_busy(),
            own=time.process_time(),
            server_threads=thread_cpu(server_pid),
            client_threads=[thread_cpu(p) for p in client_pids],
        )


def measure(
    server: Server, op: str, load: Load, during: Callable[[int, float], None] | None = None
) -> Sample:
    """Run ``load.clients`` workers doing ``op`` against ``server``; measure one window.

    ``during(server_pid, seconds)``, if given, runs at the window's start (a profiler);
    the window closes when it returns or after ``load.duration``, whichever is later.
    """
    shares = [load.concurrency // load.clients] * load.clients
    for i in range(load.concurrency % load.clients):
        shares[i] += 1
    workers: list[subprocess.Popen[str]] = []
    logs: list[IO[str]] = []
    try:
        for i, tasks in enumerate(shares):
            log: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
            logs.append(log)
            workers.append(_start_worker(server.endpoint, op, i, tasks, load, log))
        for worker, log in zip(workers, logs, strict=True):
            line = _readline(worker, READY_TIMEOUT)
            if line.strip() != "READY":
                raise LoadFailed(_why(worker, log, f"no READY (got {line.strip()[:80]!r})"))
        t0 = time.monotonic() + LEAD_IN
        t1 = t0 + load.duration
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"GO {t0!r} {t1!r}\n")
            worker.stdin.flush()
        pids = [w.pid for w in workers]
        time.sleep(max(0.0, t0 - time.monotonic()))
        start = _Marks.take(server.pid, pids)
        if during is not None:
            during(server.pid, load.duration)
        time.sleep(max(0.0, t1 - time.monotonic()))
        end = _Marks.take(server.pid, pids)
        latencies: list[int] = []
        for worker, log in zip(workers, logs, strict=True):
            latencies.extend(_result(worker, log))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for log in logs:
            log.close()
    server_cpu = end.server - start.server
    client_cpu = end.clients - start.clients
    own = end.own - start.own
    return Sample(
        ops=len(latencies),
        seconds=end.at - start.at,
        latencies_us=latencies,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        other_cpu=max(0.0, end.machine - start.machine - server_cpu - client_cpu - own),
        server_thread=busiest(start.server_threads, end.server_threads),
        client_thread=max(
            busiest(a, b) for a, b in zip(start.client_threads, end.client_threads, strict=True)
        ),
    )


def _start_worker(
    endpoint: str, op: str, number: int, tasks: int, load: Load, log: IO[str]
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.workers.server_load",
        f"--endpoint={endpoint}",
        f"--op={op}",
        f"--tasks={tasks}",
        f"--worker={number}",
        f"--channels={load.channels}",
        f"--key-size={load.key_size}",
        f"--value-size={load.value_size}",
        f"--keyspace={load.keyspace}",
        f"--warmup={load.warmup}",
        *load.worker_args,
    ]
    return subprocess.Popen(
        pinned(command, load.cpus),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def _result(worker: subprocess.Popen[str], log: IO[str]) -> list[int]:
    line = _readline(worker, END_TIMEOUT)
    if not line.startswith("RESULT "):
        raise LoadFailed(_why(worker, log, f"no RESULT (got {line.strip()[:80]!r})"))
    worker.wait(END_TIMEOUT)
    latencies: list[int] = json.loads(line[len("RESULT ") :])["latencies_us"]
    return latencies


def _readline(worker: subprocess.Popen[str], timeout: float) -> str:
    """One line of the worker's stdout, or "" if none came within ``timeout``."""
    assert worker.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(worker.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return worker.stdout.readline()


def _why(worker: subprocess.Popen[str], log: IO[str], default: str) -> str:
    if worker.poll() is None:
        worker.kill()
        worker.wait()
    log.seek(0)
    tail = [t for t in log.read().strip().splitlines() if t.strip()][-3:]
    return f"{default}; exit {worker.returncode}: " + (" | ".join(tail) or "no output")


def quiet_measure(server: Server, op: str, load: Load, attempts: int, max_other: float) -> Sample:
    """The quietest of up to ``attempts`` windows: one during which other processes kept
    more than ``max_other`` cores busy is measured again."""
    best: Sample | None = None
    windows = 0
    while windows < attempts:
        sample = measure(server, op, load)
        windows += 1
        if best is None or sample.cores(sample.other_cpu) < best.cores(best.other_cpu):
            best = sample
        if best.cores(best.other_cpu) <= max_other:
            break
        print(
            f"  noisy window ({sample.cores(sample.other_cpu):.2f} other cores)",
            file=sys.stderr,
            flush=True,
        )
    assert best is not None
    best.attempts = windows
    return best
