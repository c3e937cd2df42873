"""etcd3py against the raw stub of its face, in many short interleaved rounds.

    python benchmarks/paired.py [--face async|sync] [--rounds 8] [--calls 15000]
        [--concurrency 64]

The run's tables give the median of 4 rounds per client, each row's spread often
wider than the difference being asked about. Here the raw stub and etcd3py take
turns in the same process against one etcd 3.5.1 (the order alternating round by
round), and what is reported is the median of the per-round ratios of client CPU per
call: a difference of a few percent shows when the rounds agree on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import grpc  # noqa: E402

import etcd3py  # noqa: E402
from benchmarks.etcd_server import EtcdServer  # noqa: E402
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc  # noqa: E402

KEY, VALUE = b"/bench/paired/key", b"v" * 256


def _async_cpu(endpoint: str, side: str, op: str, calls: int, concurrency: int) -> float:
    async def measure() -> float:
        if side == "raw":
            channel = grpc.aio.insecure_channel(endpoint)
            kv = rpc_pb2_grpc.KVStub(channel)
            await kv.Put(rpc_pb2.PutRequest(key=KEY, value=VALUE))

            async def one() -> None:
                if op == "get":
                    _ = (await kv.Range(rpc_pb2.RangeRequest(key=KEY), timeout=5.0)).kvs[0].value
                else:
                    await kv.Put(rpc_pb2.PutRequest(key=KEY, value=VALUE), timeout=5.0)

            try:
                return await _drive_async(one, calls, concurrency)
            finally:
                await channel.close()
        async with etcd3py.AsyncClient(endpoint, timeout=5.0) as client:
            await client.put(KEY, VALUE)

            async def one() -> None:
                if op == "get":
                    _ = (await client.get(KEY)).value
                else:
                    await client.put(KEY, VALUE)

            return await _drive_async(one, calls, concurrency)

    return asyncio.run(measure())


async def _drive_async(one: Callable[[], object], calls: int, concurrency: int) -> float:
    async def worker() -> None:
        for _ in range(calls // concurrency):
            await one()  # type: ignore[misc]

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm-up
    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / calls * 1e6


def _sync_cpu(endpoint: str, side: str, op: str, calls: int, concurrency: int) -> float:
    if side == "raw":
        channel = grpc.insecure_channel(endpoint)
        kv = rpc_pb2_grpc.KVStub(channel)
        kv.Put(rpc_pb2.PutRequest(key=KEY, value=VALUE))

        def raw_one() -> None:
            if op == "get":
                _ = kv.Range(rpc_pb2.RangeRequest(key=KEY), timeout=5.0).kvs[0].value
            else:
                kv.Put(rpc_pb2.PutRequest(key=KEY, value=VALUE), timeout=5.0)

        try:
            return _drive_threads(raw_one, calls, concurrency)
        finally:
            channel.close()
    with etcd3py.Client(endpoint, timeout=5.0) as client:
        client.put(KEY, VALUE)

        def ours_one() -> None:
            if op == "get":
                _ = client.get(KEY).value
            else:
                client.put(KEY, VALUE)

        return _drive_threads(ours_one, calls, concurrency)


def _drive_threads(one: Callable[[], None], calls: int, concurrency: int) -> float:
    def worker(_: int) -> None:
        for _ in range(calls // concurrency):
            one()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))  # warm-up
        started = time.process_time()
        list(pool.map(worker, range(concurrency)))
        return (time.process_time() - started) / calls * 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--face", choices=("async", "sync"), default="async")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--calls", type=int, default=15_000, help="measured calls per round")
    p.add_argument("--concurrency", type=int, default=64, help="tasks or threads")
    args = p.parse_args(argv)
    measure = _async_cpu if args.face == "async" else _sync_cpu
    samples: dict[tuple[str, str], list[float]] = {}
    with EtcdServer() as server:
        for round_no in range(args.rounds):
            for op in ("get", "put"):
                sides = ["raw", "etcd3py"] if round_no % 2 == 0 else ["etcd3py", "raw"]
                for side in sides:
                    cpu = measure(server.endpoint, side, op, args.calls, args.concurrency)
                    samples.setdefault((op, side), []).append(cpu)
    print(f"{args.face}, concurrency {args.concurrency}, {args.rounds} rounds of {args.calls:,}")
    print("| op | raw stub CPU µs/call | etcd3py | per-round ratio, median (min-max) |")
    print("|---|---|---|---|")
    for op in ("get", "put"):
        raw, ours = samples[(op, "raw")], samples[(op, "etcd3py")]
        ratios = [b / a for a, b in zip(raw, ours, strict=True)]
        print(
            f"| {op} | {statistics.median(raw):.1f} ({min(raw):.1f}-{max(raw):.1f}) "
            f"| {statistics.median(ours):.1f} ({min(ours):.1f}-{max(ours):.1f}) "
            f"| {statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f}) |"
        )


if __name__ == "__main__":
    main()
