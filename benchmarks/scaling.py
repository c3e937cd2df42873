"""How etcd3py's cost grows with the number of watches, leases, keys read and value size.

    python benchmarks/run.py --workloads scaling [--cases watches,leases,range,values]
        [--min-size N] [--max-size N] [--rounds R]

(or ``python benchmarks/scaling.py`` with the same flags). Every point runs etcd3py's
AsyncClient and the raw grpc.aio stubs (the floor) in processes of their own,
interleaved in rotated order over ``--rounds`` rounds, against one etcd 3.5.1; the
tables give the median of the rounds and, per row, how the cost grows with the size
(the exponent k of cost ~ size^k between the two largest sizes measured: about 0 is
constant, about 1 linear, above 1.3 worse than linear). Points above ``--max-size``
are skipped and listed with the command that runs them.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import grpc.aio  # noqa: E402

from benchmarks.etcd_server import EtcdServer  # noqa: E402
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc  # noqa: E402

RESULTS = ROOT / "benchmarks" / "scaling_results.md"
SIZES = {
    "watches": [1, 10, 100, 1_000, 10_000],
    "leases": [1_000, 10_000, 50_000],
    "range": [100_000, 1_000_000],
    "values": [1, 1_024, 65_536, 1_048_576],
}
CLIENTS = {"etcd3py": "etcd3py AsyncClient", "raw": "raw grpc.aio stub"}
LEASE_WORKERS = {"etcd3py": "benchmarks.workers.etcd3py_async", "raw": "benchmarks.workers.raw_aio"}
LEASE_TTL, LEASE_WINDOW = 30, 10.0  # each lease renewed once in the window (TTL/3)
RANGE_VALUE = b"v" * 64
SEED_BATCH = 128  # puts per txn when seeding a range
WORKER_TIMEOUT = 900.0
BIG = 1_000_000  # points this large run one round, whatever --rounds says
Result = dict[str, Any]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(command: list[str]) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {WORKER_TIMEOUT:g}s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            result: Result = json.loads(line[len("RESULT ") :])
            return result
    tail = [t for t in done.stderr.strip().splitlines() if t.strip()][-3:]
    return {"error": f"exit {done.returncode}: " + (" | ".join(tail) or "no output")}


def _point(server: EtcdServer, case: str, size: int, client: str, mode: str = "") -> Result:
    prefix = f"/scale/{case}/{size}/"
    if case == "leases":
        command = [
            sys.executable, "-m", LEASE_WORKERS[client], f"--endpoint={server.endpoint}",
            "--workload=leases", f"--prefix={prefix}", f"--leases={size}",
            f"--ttl={LEASE_TTL}", f"--window={LEASE_WINDOW}", "--repeats=1",
        ]  # fmt: skip
        result = _run(command)
        if "samples" in result:
            s = result["samples"][0]
            return {"cpu_ms_per_s": s["cpu"] / s["wall"] * 1e3, "min_ttl": result["min_ttl"]}
        return result
    command = [
        sys.executable, "-m", "benchmarks.workers.scaling", f"--endpoint={server.endpoint}",
        f"--client={client}", f"--case={case}", f"--size={size}", f"--prefix={prefix}",
    ]  # fmt: skip
    if mode:
        command.append(f"--mode={mode}")
    if case == "values":
        command.append(f"--ops={max(20, min(500, 20_000_000 // max(size, 1)))}")
    return _run(command)


async def _seed(endpoint: str, prefix: bytes, count: int) -> None:
    """``count`` keys under ``prefix`` (the scaling worker's key_of), in txns of 128 puts."""
    channel = grpc.aio.insecure_channel(endpoint)
    kv = rpc_pb2_grpc.KVStub(channel)
    batches = [range(i, min(i + SEED_BATCH, count)) for i in range(0, count, SEED_BATCH)]
    pending = iter(batches)

    async def writer() -> None:
        for batch in pending:
            ops = [
                rpc_pb2.RequestOp(
                    request_put=rpc_pb2.PutRequest(key=prefix + b"%010d" % i, value=RANGE_VALUE)
                )
                for i in batch
            ]
            await kv.Txn(rpc_pb2.TxnRequest(success=ops), timeout=60)

    try:
        await asyncio.gather(*(writer() for _ in range(8)))
    finally:
        await channel.close()


def _unseed(server: EtcdServer, prefix: bytes, count: int) -> None:
    """Delete the seeded keys, 50,000 a request (one DeleteRange of a million keys
    outlasts etcd's request timeout), then compact."""

    async def delete() -> None:
        channel = grpc.aio.insecure_channel(server.endpoint)
        kv = rpc_pb2_grpc.KVStub(channel)
        for start in range(0, count, 50_000):
            request = rpc_pb2.DeleteRangeRequest(
                key=prefix + b"%010d" % start, range_end=prefix + b"%010d" % (start + 50_000)
            )
            await kv.DeleteRange(request, timeout=60)
        await channel.close()

    asyncio.run(delete())
    server.reset()


def _growth(sizes: Sequence[int], totals: Sequence[float]) -> str:
    """k in cost ~ size^k between the two largest sizes with a figure, and its word."""
    points = [(s, t) for s, t in zip(sizes, totals, strict=True) if t and t > 0]
    if len(points) < 2:
        return "n/a (one point)"
    (s1, t1), (s2, t2) = points[-2], points[-1]
    k = math.log(t2 / t1) / math.log(s2 / s1)
    word = (
        "constant" if k < 0.3 else "sublinear" if k < 0.7 else "linear" if k <= 1.3 else
        "WORSE than linear"
    )  # fmt: skip
    return f"k={k:.2f} ({word}, {s1:,}→{s2:,})"


def _median(results: list[Result], field: str) -> float | None:
    values = [r[field] for r in results if field in r and r[field] is not None]
    return statistics.median(values) if values else None


def _spread(results: list[Result], field: str, fmt: str) -> str:
    values = [r[field] for r in results if field in r and r[field] is not None]
    if not values:
        errors = sorted({r.get("error", "no figure") for r in results})
        return "failed: " + "; ".join(errors)
    mid = format(statistics.median(values), fmt)
    if len(values) == 1:
        return mid
    return f"{mid} ({format(min(values), fmt)}-{format(max(values), fmt)})"


Column = tuple[str, str, str, Callable[[int, float], float] | None]
# (header, field, format, total: size, figure -> the total cost whose growth is told)
COLUMNS: dict[str, list[Column]] = {
    "watches": [
        ("create, CPU µs/watch", "create_cpu_us_per_watch", ",.0f", lambda n, v: n * v),
        ("RSS KiB/watch", "rss_kib_per_watch", ",.2f", lambda n, v: n * v),
        ("idle CPU ms/s", "idle_cpu_ms_per_s", ",.2f", lambda n, v: v),
        ("event p50 ms", "event_p50_ms", ",.2f", lambda n, v: v),
        ("event p99 ms", "event_p99_ms", ",.2f", None),
    ],
    "leases": [
        ("client CPU ms/s", "cpu_ms_per_s", ",.1f", lambda n, v: v),
        ("least TTL left (s, of 30)", "min_ttl", ".0f", None),
    ],
    "range": [
        ("wall s", "wall_s", ",.2f", lambda n, v: v),
        ("client CPU s", "cpu_s", ",.2f", lambda n, v: v),
        ("peak RSS MiB above start", "peak_rss_mib_above_start", ",.1f", lambda n, v: v),
    ],
    "values": [
        ("put CPU µs/op", "put_cpu_us", ",.0f", lambda n, v: v),
        ("put ops/s", "put_ops_s", ",.0f", None),
        ("put MB/s", "put_mb_s", ",.3g", None),
        ("get CPU µs/op", "get_cpu_us", ",.0f", lambda n, v: v),
        ("get ops/s", "get_ops_s", ",.0f", None),
        ("get MB/s", "get_mb_s", ",.3g", None),
    ],
}
# what the growth exponent is of, where it is not the column itself
TOTALS = {
    "create_cpu_us_per_watch": "total create CPU",
    "rss_kib_per_watch": "total RSS growth",
}
TITLES = {
    "watches": "N watches (one key each) on one client",
    "leases": f"N leases kept alive (TTL {LEASE_TTL} s, {LEASE_WINDOW:g} s window)",
    "range": "reading a prefix of N keys (64 B values)",
    "values": "sequential put and get of one value of N bytes",
}


def _table(case: str, sizes: list[int], rows: dict[tuple[int, str], list[Result]]) -> list[str]:
    columns = COLUMNS[case]
    variants = sorted({v for (_, v) in rows}, key=list(rows_order(case)).index)
    lines = [f"### {TITLES[case]}", ""]
    lines.append("| client | N | " + " | ".join(c[0] for c in columns) + " |")
    lines.append("|---|---|" + "---|" * len(columns))
    for variant in variants:
        measured = [s for s in sizes if (s, variant) in rows]
        for size in measured:
            cells = [_spread(rows[(size, variant)], field, fmt) for _, field, fmt, _ in columns]
            lines.append(f"| {variant} | {size:,} | " + " | ".join(cells) + " |")
        growth = []
        for header, field, _, total in columns:
            if total is None:
                continue
            figures = [_median(rows[(s, variant)], field) for s in measured]
            totals = [
                total(s, f) if f is not None else 0.0
                for s, f in zip(measured, figures, strict=True)
            ]
            growth.append(f"{TOTALS.get(field, header)}: {_growth(measured, totals)}")
        lines.append(
            f"| {variant} | growth | " + "; ".join(growth) + " |" + " |" * (len(columns) - 1)
        )
    return [*lines, ""]


def rows_order(case: str) -> list[str]:
    if case == "range":
        return [f"{CLIENTS[c]}, {m}" for c in CLIENTS for m in ("get(prefix=True)", "get_paged")]
    return list(CLIENTS.values())


def main(argv: list[str] | None = None) -> str:
    """Run the scaling points; print, write and return the report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", default=",".join(SIZES), help="comma-separated: " + ",".join(SIZES))
    p.add_argument("--max-size", type=int, default=0, help="skip points above this N (0: none)")
    p.add_argument("--min-size", type=int, default=0, help="skip points below this N")
    p.add_argument("--rounds", type=int, default=3, help="runs of each point, clients interleaved")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - set(SIZES)
    if unknown:
        raise SystemExit(f"unknown cases: {', '.join(sorted(unknown))}")
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    sections: list[str] = []
    skipped: list[str] = []
    with EtcdServer() as server:
        version = server.version()
        for case in cases:
            sizes = [
                s
                for s in SIZES[case]
                if args.min_size <= s and (not args.max_size or s <= args.max_size)
            ]
            skipped += [f"{case} N={s:,}" for s in SIZES[case] if s not in sizes]
            rows: dict[tuple[int, str], list[Result]] = {}
            for size in sizes:
                if case == "range":
                    prefix = f"/scale/{case}/{size}/".encode()
                    _progress(f"[range] seeding {size:,} keys")
                    asyncio.run(_seed(server.endpoint, prefix, size))
                # a million-key read takes minutes (etcd's paging): one round of it
                for round_no in range(1 if size >= BIG else args.rounds):
                    order = list(CLIENTS)
                    order = order[round_no % 2 :] + order[: round_no % 2]
                    modes = ("whole", "paged") if case == "range" else ("",)
                    for client in order:
                        for mode in modes:
                            if case != "range":
                                server.reset()
                            result = _point(server, case, size, client, mode)
                            name = CLIENTS[client]
                            if mode:
                                name += ", " + (
                                    "get(prefix=True)" if mode == "whole" else "get_paged"
                                )
                            rows.setdefault((size, name), []).append(result)
                            _progress(f"[{case} N={size:,} round {round_no + 1}] {name}: {result}")
                if case == "range":
                    _unseed(server, prefix, size)
            sections += _table(case, sizes, rows)
    load_after = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    command = "python benchmarks/run.py --workloads scaling " + shlex.join(argv or [])
    head = [
        "## Scaling",
        "",
        f"- run: {started}, etcd3py git {commit}, etcd {version} (one member, --unsafe-no-fsync)",
        f"- command: `{command.strip()}`",
        f"- load average (1/5/15 min) before: {' / '.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {' / '.join(f'{x:.2f}' for x in load_after)}",
        f"- rounds: {args.rounds} (one for N of {BIG:,} and more), clients interleaved; "
        "cells: median (min-max)",
        "",
    ]
    if skipped:
        head += [
            "Not run (outside --min-size/--max-size): " + ", ".join(skipped) + ". Run them with "
            "`python benchmarks/run.py --workloads scaling --cases CASE` (no --max-size).",
            "",
        ]
    report = "\n".join(head + sections)
    print(report)
    args.output.write_text(report)
    return report


if __name__ == "__main__":
    main()
