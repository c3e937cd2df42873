"""One load-generator process of ``benchmarks/server_compare.py``.

Runs ``--tasks`` asyncio tasks, each issuing one call after another through the
generated KV stub on its own grpc.aio channel (nothing of etcd3py's client on the path):
puts of unique keys, or gets of the keys the orchestrator wrote beforehand, or
Authenticate calls (``--op authenticate``: a password check each). The tasks run from
start to end without pause; the orchestrator picks the measured window.

With ``--user``/``--password`` each channel authenticates once and every call carries
the token (etcd's ``token`` metadata); with ``--ca-file`` (and ``--cert-file``,
``--key-file`` for a client certificate) the channels use TLS.

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
from pathlib import Path

import grpc.aio

from benchmarks.workers.harness import CALL_TIMEOUT, make_key
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc

OPS = ("put", "get", "authenticate")
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


@dataclass(frozen=True)
class Stubs:
    """One channel's stubs and the metadata every call carries (the auth token, if any)."""

    kv: rpc_pb2_grpc.KVStub
    auth: rpc_pb2_grpc.AuthStub
    metadata: tuple[tuple[str, str], ...] = ()


def _call_maker(
    stubs: Stubs, args: argparse.Namespace, task_no: int
) -> Callable[[int], Awaitable[object]]:
    """The n-th call of one task, as a coroutine factory."""
    stub, metadata = stubs.kv, stubs.metadata
    if args.op == "authenticate":
        login = rpc_pb2.AuthenticateRequest(name=args.user, password=args.password)

        def authenticate(n: int) -> Awaitable[object]:
            return stubs.auth.Authenticate(login, timeout=CALL_TIMEOUT)

        return authenticate
    if args.op == "put":
        value = b"v" * args.value_size
        prefix = args.put_prefix.encode() + b"%d/%d/" % (args.worker, task_no)

        def put(n: int) -> Awaitable[object]:
            request = rpc_pb2.PutRequest(key=make_key(prefix, n, args.key_size), value=value)
            return stub.Put(request, timeout=CALL_TIMEOUT, metadata=metadata)

        return put
    keys = get_keys(args.keyspace, args.key_size)
    offset = (args.worker * 7919 + task_no * 131) % len(keys)  # tasks spread over the keys

    def get(n: int) -> Awaitable[object]:
        request = rpc_pb2.RangeRequest(key=keys[(offset + n) % len(keys)])
        return stub.Range(request, timeout=CALL_TIMEOUT, metadata=metadata)

    return get


async def _task(stubs: Stubs, args: argparse.Namespace, task_no: int, window: Window) -> None:
    call = _call_maker(stubs, args, task_no)
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


def open_channel(endpoint: str, args: argparse.Namespace) -> grpc.aio.Channel:
    """A grpc.aio channel to ``endpoint``: TLS if ``args`` name a CA, else plain."""
    if args.ca_file is None:
        return grpc.aio.insecure_channel(endpoint)
    cert = Path(args.cert_file).read_bytes() if args.cert_file else None
    key = Path(args.key_file).read_bytes() if args.key_file else None
    ca = Path(args.ca_file).read_bytes()
    return grpc.aio.secure_channel(endpoint, grpc.ssl_channel_credentials(ca, key, cert))


async def _stubs(channel: grpc.aio.Channel, args: argparse.Namespace) -> Stubs:
    """The channel's stubs; with ``--user`` (and not measuring Authenticate), a token."""
    auth = rpc_pb2_grpc.AuthStub(channel)
    metadata: tuple[tuple[str, str], ...] = ()
    if args.user is not None and args.op != "authenticate":
        login = rpc_pb2.AuthenticateRequest(name=args.user, password=args.password)
        token = (await auth.Authenticate(login, timeout=30)).token
        metadata = (("token", token),)
    return Stubs(rpc_pb2_grpc.KVStub(channel), auth, metadata)


async def _main(args: argparse.Namespace) -> None:
    window = Window()
    channels = [open_channel(args.endpoint, args) for _ in range(args.channels)]
    try:
        stubs = [await _stubs(c, args) for c in channels]
    except grpc.aio.AioRpcError as err:
        print(f"load worker {args.worker}: authenticate: {err.details()}", file=sys.stderr)
        raise SystemExit(1) from None
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
    p.add_argument("--op", choices=OPS, required=True)
    p.add_argument("--tasks", type=int, required=True, help="calls in flight in this process")
    p.add_argument("--channels", type=int, default=1, help="grpc.aio channels shared by tasks")
    p.add_argument("--worker", type=int, default=0, help="this worker's number (key prefix)")
    p.add_argument("--warmup", type=int, default=50, help="calls per task before READY")
    p.add_argument("--key-size", type=int, default=64)
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument("--keyspace", type=int, default=1000, help="keys the gets cycle over")
    p.add_argument("--put-prefix", default=PUT_PREFIX.decode(), help="where the puts go")
    p.add_argument("--user", help="authenticate as this user (auth on)")
    p.add_argument("--password", default="")
    p.add_argument("--ca-file", help="TLS: trust this CA (PEM)")
    p.add_argument("--cert-file", help="TLS: the client certificate (PEM)")
    p.add_argument("--key-file", help="TLS: the client certificate's key (PEM)")
    asyncio.run(_main(p.parse_args(argv)))


if __name__ == "__main__":
    main()
