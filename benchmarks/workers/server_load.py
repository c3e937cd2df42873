"""One load-generator process of ``benchmarks/server_compare.py``.

Runs ``--tasks`` asyncio tasks, each issuing one call after another through the
generated KV stub on its own grpc.aio channel (nothing of etcd3py's client on the path):
puts of unique keys, or gets of the keys the orchestrator wrote beforehand. The tasks
run from start to end without pause; the orchestrator picks the measured window.

Protocol, on stdout and stdin (one line each):

- ``READY`` once every task has completed ``--warmup`` calls;
- the orchestrator answers ``GO <t0> <t1>``: a window in ``time.monotonic()`` seconds
  (CLOCK_MONOTONIC, the same clock in every process of the machine);
- after ``t1`` the worker prints ``RESULT {json}``: the calls completed inside the
  window and their latencies in microseconds, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc.aio

from benchmarks.workers.harness import CALL_TIMEOUT, make_key
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc

PUT_PREFIX = b"/bench/put/"
GET_PREFIX = b"/bench/get/"


@dataclass
class Window:
    """The measured window; open-ended (nothing counted) until GO arrives."""

    t0: float = float("inf")
    t1: float = float("inf")
    latencies_us: list[int] = field(default_factory=list)
    warm: int = 0  # tasks that finished their warm-up calls


class LoadFailed(Exception):
    """A call failed: the worker stops and says why (the run reports it)."""


def get_keys(count: int, size: int) -> list[bytes]:
    """The keys the get workload reads (written by the orchestrator before it starts)."""
    return [make_key(GET_PREFIX, i, size) for i in range(count)]


def _call_maker(
    stub: rpc_pb2_grpc.KVStub, args: argparse.Namespace, task_no: int
) -> Callable[[int], Awaitable[object]]:
    """The n-th call of one task, as a coroutine factory."""
    if args.op == "put":
        value = b"v" * args.value_size
        prefix = PUT_PREFIX + b"%d/%d/" % (args.worker, task_no)

        def put(n: int) -> Awaitable[object]:
            request = rpc_pb2.PutRequest(key=make_key(prefix, n, args.key_size), value=value)
            return stub.Put(request, timeout=CALL_TIMEOUT)

        return put
    keys = get_keys(args.keyspace, args.key_size)
    offset = (args.worker * 7919 + task_no * 131) % len(keys)  # tasks spread over the keys

    def get(n: int) -> Awaitable[object]:
        request = rpc_pb2.RangeRequest(key=keys[(offset + n) % len(keys)])
        return stub.Range(request, timeout=CALL_TIMEOUT)

    return get


async def _task(
    stub: rpc_pb2_grpc.KVStub, args: argparse.Namespace, task_no: int, window: Window
) -> None:
    call = _call_maker(stub, args, task_no)
    clock = time.monotonic
    n = 0
    while True:
        started = clock()
        try:
            response = await call(n)
        except grpc.aio.AioRpcError as err:
            raise LoadFailed(f"{args.op} failed: {err.code().name}: {err.details()}") from None
        ended = clock()
        if args.op == "get" and not response.kvs:  # type: ignore[attr-defined]
            raise LoadFailed("a get found no key: the keys were not written beforehand")
        n += 1
        if n == args.warmup:
            window.warm += 1
            if window.warm == args.tasks:
                print("READY", flush=True)
        if window.t0 <= ended <= window.t1:
            window.latencies_us.append(round((ended - started) * 1e6))
        elif ended > window.t1:
            return


def _read_go(window: Window, loop: asyncio.AbstractEventLoop) -> None:
    """Wait (in a daemon thread: stdin blocks) for ``GO t0 t1``, then open the window."""
    line = sys.stdin.readline()
    words = line.split()
    if len(words) == 3 and words[0] == "GO":
        t0, t1 = float(words[1]), float(words[2])
    else:  # stdin closed or garbled: the orchestrator is gone, stop now
        t0 = t1 = 0.0

    def open_window() -> None:
        window.t0, window.t1 = t0, t1

    loop.call_soon_threadsafe(open_window)


async def _main(args: argparse.Namespace) -> None:
    window = Window()
    channels = [grpc.aio.insecure_channel(args.endpoint) for _ in range(args.channels)]
    stubs = [rpc_pb2_grpc.KVStub(c) for c in channels]
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_go, args=(window, loop), daemon=True).start()
    tasks = [
        asyncio.create_task(_task(stubs[i % len(stubs)], args, i, window))
        for i in range(args.tasks)
    ]
    try:
        await asyncio.gather(*tasks)
    except LoadFailed as err:
        print(f"load worker {args.worker}: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    for channel in channels:
        await channel.close()
    print("RESULT " + json.dumps({"latencies_us": window.latencies_us}), flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--op", choices=("put", "get"), required=True)
    p.add_argument("--tasks", type=int, required=True, help="calls in flight in this process")
    p.add_argument("--channels", type=int, default=1, help="grpc.aio channels shared by tasks")
    p.add_argument("--worker", type=int, default=0, help="this worker's number (key prefix)")
    p.add_argument("--warmup", type=int, default=50, help="calls per task before READY")
    p.add_argument("--key-size", type=int, default=64)
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument("--keyspace", type=int, default=1000, help="keys the gets cycle over")
    asyncio.run(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
