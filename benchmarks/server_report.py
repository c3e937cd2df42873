"""Report pieces shared by the server benchmarks (server_compare, server_auth_compare):
the per-line figures of a set of runs, and the machine and source notes."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path

import grpc

from benchmarks.server_measure import Sample

ROOT = Path(__file__).resolve().parents[1]

COLUMNS = (
    "ops/s | p50 ms | p99 ms | server CPU µs/op | server cores | server busiest thread "
    "| client CPU µs/op | client cores | other cores | windows kept/measured"
)


def spread(values: list[float], fmt: str) -> str:
    """Median (min-max) of the runs."""
    if not values:
        return ""
    med = format(statistics.median(values), fmt)
    if len(values) == 1:
        return med
    return f"{med} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def row(s: list[Sample]) -> list[str]:
    """The cells of ``COLUMNS`` for the samples of one line (one per run)."""
    return [
        spread([x.ops_per_s for x in s], ",.0f"),
        spread([x.percentile_ms(0.5) for x in s], ".1f"),
        spread([x.percentile_ms(0.99) for x in s], ".1f"),
        spread([x.us_per_op(x.server_cpu) for x in s], ",.0f"),
        spread([x.cores(x.server_cpu) for x in s], ".2f"),
        spread([x.cores(x.server_thread) for x in s], ".2f"),
        spread([x.us_per_op(x.client_cpu) for x in s], ",.0f"),
        spread([x.cores(x.client_cpu) for x in s], ".2f"),
        spread([x.cores(x.other_cpu) for x in s], ".2f"),
        f"{len(s)}/{sum(x.attempts for x in s)}",
    ]


def machine() -> str:
    cpus, model = len(os.sched_getaffinity(0)), "?"
    for text in Path("/proc/cpuinfo").read_text().splitlines():
        if text.startswith("model name"):
            model = text.split(":", 1)[1].strip()
            break
    version = getattr(grpc, "__version__", "?")
    return (
        f"{cpus} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, grpcio {version}"
    )


def source_state() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "server_ref", "etcd3py", "benchmarks")
    return f"git {commit}" + (" with uncommitted changes" if dirty else "")
