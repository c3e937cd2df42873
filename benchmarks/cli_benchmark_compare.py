"""``etcd3py benchmark`` against a raw grpc.aio stub loop and ``etcdctl check perf``.

One etcd 3.5.1 (``--unsafe-no-fsync``, benchmarks/etcd_server.py) serves every run.

* Unlimited puts (and linearizable ranges) at ``--clients`` 1, 16 and 64 over one
  connection: ``etcd3py benchmark`` (asyncio workers on AsyncClient) against the
  floor, the generated stubs on one ``grpc.aio`` channel with the same number of
  tasks, and against the design not taken, threads sharing one sync ``Client``.
  Rounds are interleaved; each figure is min / median / max of the rounds.
* ``etcdctl check perf --load s`` (Go: 50 clients, 150 puts/s, 60 s, 256 B keys,
  1 KiB values) against ``etcd3py benchmark put`` at the same offered load
  (``--clients 50 --rate 150 --total 9000 --key-size 256 --val-size 1024``).

Each run is a child process; its CPU is ``time.process_time()`` around the run
(start-up excluded), divided by the requests. Usage:

    python benchmarks/cli_benchmark_compare.py [--rounds 3] [--total 3000] [--check-perf]
        [--kinds etcd3py,raw,sync] [--ops put,range]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULT = "RESULT "
CLIENTS = (1, 16, 64)
NAMES = {
    "etcd3py": "etcd3py benchmark (asyncio tasks, AsyncClient)",
    "raw": "raw grpc.aio stub (asyncio tasks)",
    "sync": "etcd3py Client (threads)",
}
RANGE_KEY = b"bench-range-key"  # one key of 8 bytes' value, read by both range clients


def child_etcd3py(endpoint: str, args: list[str]) -> dict[str, float]:
    """Run ``etcd3py benchmark ARGS`` in this process; its report and CPU."""
    from etcd3py.cli.benchmark import benchmark

    out = io.StringIO()
    cpu = time.process_time()
    with contextlib.redirect_stdout(out):
        benchmark.main(["--endpoints", endpoint, "--precise", *args], standalone_mode=False)
    cpu = time.process_time() - cpu
    return {**parse_report(out.getvalue()), "cpu": cpu}


def child_raw(endpoint: str, op: str, clients: int, total: int) -> dict[str, float]:
    """The floor: ``clients`` asyncio tasks calling the generated stubs on one channel."""
    import grpc.aio

    from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
    from etcd3py.cli.benchmark.report import Report

    async def main() -> str:
        channel = grpc.aio.insecure_channel(endpoint)
        kv = rpc_pb2_grpc.KVStub(channel)
        await kv.Range(rpc_pb2.RangeRequest(key=b"warm"), timeout=5)
        report = Report(precise=True)
        numbers = iter(range(total))
        key, value = bytes(8), os.urandom(8)

        async def worker() -> None:
            for _ in numbers:
                start = time.perf_counter()
                error = None
                try:
                    if op == "put":
                        await kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=5)
                    else:
                        await kv.Range(rpc_pb2.RangeRequest(key=RANGE_KEY), timeout=5)
                except grpc.RpcError as failed:
                    error = failed
                report.add(start, time.perf_counter(), error)

        report.start()
        await asyncio.gather(*(worker() for _ in range(clients)))
        report.finish()
        await channel.close()
        return report.text()

    cpu = time.process_time()
    text = asyncio.run(main())
    cpu = time.process_time() - cpu
    return {**parse_report(text), "cpu": cpu}


def child_sync(endpoint: str, op: str, clients: int, total: int) -> dict[str, float]:
    """The design not taken: ``clients`` threads sharing one etcd3py ``Client``."""
    import threading

    from etcd3py import Client
    from etcd3py.cli.benchmark.report import Report

    report = Report(precise=True)
    numbers = iter(range(total))
    lock = threading.Lock()
    key, value = bytes(8), os.urandom(8)
    cpu = time.process_time()
    with Client(endpoint) as client:
        client.status()

        def worker() -> None:
            while True:
                with lock:
                    if next(numbers, None) is None:
                        return
                start = time.perf_counter()
                error = None
                try:
                    if op == "put":
                        client.put(key, value)
                    else:
                        client.get(RANGE_KEY)
                except Exception as failed:
                    error = failed
                end = time.perf_counter()
                with lock:
                    report.add(start, end, error)

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        report.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report.finish()
    cpu = time.process_time() - cpu
    return {**parse_report(report.text()), "cpu": cpu}


def parse_report(text: str) -> dict[str, float]:
    """Requests/sec and the 50/90/99% latencies (ms) of an etcd-format report."""
    found: dict[str, float] = {}
    rps = re.search(r"Requests/sec:\t([\d.e+-]+)", text)
    if rps:
        found["rps"] = float(rps.group(1))
    for pctl in ("50", "90", "99"):
        match = re.search(rf"  {pctl}% in ([\d.e+-]+) secs", text)
        if match:
            found[f"p{pctl}"] = float(match.group(1)) * 1000
    errors = re.search(r"Error distribution:\n((?:  \[\d+\].*\n)+)", text)
    found["errors"] = float(
        sum(int(n) for n in re.findall(r"\[(\d+)\]", errors.group(1))) if errors else 0
    )
    return found


def run_child(kind: str, endpoint: str, extra: list[str]) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--endpoint", endpoint, "--", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return dict(json.loads(line[len(RESULT) :]))
    raise RuntimeError(f"{kind} failed: {done.stderr[-2000:]}")


def check_perf(endpoint: str) -> dict[str, float | str]:
    """``etcdctl check perf --load s``: its verdict lines and its process's CPU."""
    from benchmarks.etcd_server import etcd_binary

    etcdctl = etcd_binary().parent / "etcdctl"
    proc = subprocess.Popen(
        [str(etcdctl), "--endpoints", endpoint, "check", "perf", "--load", "s"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, _status, usage = os.wait4(proc.pid, 0)
    verdicts = re.findall(r"(?:PASS|FAIL|Slowest|Stddev)[^\n]*", output)
    throughput = re.search(r"(\d+) writes/s", output)
    throughput_found = float(throughput.group(1)) if throughput else 0.0
    ops = throughput_found * 60 or 150 * 60  # its 60 s at the throughput it reports
    return {
        "verdict": " | ".join(verdicts),
        "rps": throughput_found,
        "cpu_us_per_op": (usage.ru_utime + usage.ru_stime) / ops * 1e6,
    }


def _put_range_key(endpoint: str) -> None:
    import grpc

    from etcd3py._proto import rpc_pb2, rpc_pb2_grpc

    with grpc.insecure_channel(endpoint) as channel:
        request = rpc_pb2.PutRequest(key=RANGE_KEY, value=os.urandom(8))
        rpc_pb2_grpc.KVStub(channel).Put(request, timeout=5)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def spread_ms(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--total", type=int, default=3000)
    parser.add_argument(
        "--kinds", default="etcd3py,raw,sync", help="etcd3py (the tool), raw, sync (threads)"
    )
    parser.add_argument("--ops", default="put,range")
    parser.add_argument(
        "--check-perf", action="store_true", help="also the 60 s etcdctl check perf pair"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "etcd3py":
        print(RESULT + json.dumps(child_etcd3py(args.endpoint, args.rest)))
        return
    if args.child in ("raw", "sync"):
        op, clients, total = args.rest[0], int(args.rest[1]), int(args.rest[2])
        child = child_raw if args.child == "raw" else child_sync
        print(RESULT + json.dumps(child(args.endpoint, op, clients, total)))
        return

    from benchmarks.etcd_server import EtcdServer

    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    with EtcdServer() as server:
        endpoint = server.endpoint
        _put_range_key(endpoint)
        rows: dict[tuple[str, str, int], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for op in args.ops.split(","):
                target = [] if op == "put" else [RANGE_KEY.decode()]
                for clients in CLIENTS:
                    cli = ["--clients", str(clients), op, *target, "--total", str(args.total)]
                    raw = [op, str(clients), str(args.total)]
                    for kind in args.kinds.split(","):
                        extra = cli if kind == "etcd3py" else raw
                        result = run_child(kind, endpoint, extra)
                        rows.setdefault((op, kind, clients), []).append(result)
                    server.reset()
        header = (
            "| op | clients | client | requests/s | p50 ms | p90 ms | p99 ms | CPU µs/op | errors |"
        )
        print("\n" + header)
        print("|---|---|---|---|---|---|---|---|---|")
        for (op, kind, clients), runs in rows.items():
            name = NAMES[kind]
            print(
                f"| {op} | {clients} | {name} | {spread([r['rps'] for r in runs])} "
                f"| {spread_ms([r['p50'] for r in runs])} | {spread_ms([r['p90'] for r in runs])} "
                f"| {spread_ms([r['p99'] for r in runs])} "
                f"| {spread([r['cpu'] / args.total * 1e6 for r in runs])} "
                f"| {int(sum(r['errors'] for r in runs))} |"
            )
        if args.check_perf:
            go = check_perf(endpoint)
            server.reset()
            same = run_child("etcd3py", endpoint, [
                "--clients", "50", "put", "--rate", "150", "--total", "9000", "--key-size", "256",
                "--val-size", "1024", "--key-space-size", str(2**40)])  # fmt: skip
            print(f"\netcdctl check perf --load s: {go['verdict']}")
            print(f"  etcdctl CPU per put (whole process): {go['cpu_us_per_op']:.0f} µs")
            print(
                f"etcd3py benchmark put at the same load: {same['rps']:.1f} req/s, "
                f"p50 {same['p50']:.2f} ms, p90 {same['p90']:.2f} ms, p99 {same['p99']:.2f} ms, "
                f"CPU per put {same['cpu'] / 9000 * 1e6:.0f} µs, errors {int(same['errors'])}"
            )


if __name__ == "__main__":
    main()
