"""Put throughput of server_ref: a quick check that a server change costs nothing.

    python benchmarks/server_ref_puts.py [--rounds 3] [--seq 5000] [--conc 20000]

Starts an EmbeddedServer in this process and measures, per round:

- ``seq``: sequential puts through the generated sync stub (one thread);
- ``conc``: puts at concurrency 64 through the generated stub on grpc.aio.

It prints puts per second, the CPU of the whole process per put, and the CPU of the
server's thread per put (the steadier figure: it leaves out the client). Client and
server share the process and its 2 cores, so compare runs made on the same machine
at about the same time, and look at the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import grpc.aio

import etcd3py.server_ref
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref import EmbeddedServer

CONCURRENCY = 64
VALUE = b"v" * 256


@dataclass
class Figures:
    ops_per_s: float
    process_us: float
    server_us: float


def server_clock() -> Callable[[], float]:
    """CPU seconds of the EmbeddedServer's thread (its event loop)."""
    thread = next(t for t in threading.enumerate() if t.name == "etcd3py-server-ref")
    assert thread.ident is not None
    clock = time.pthread_getcpuclockid(thread.ident)
    return lambda: time.clock_gettime(clock)


def measure(n: int, run: Callable[[], None], server_cpu: Callable[[], float]) -> Figures:
    wall, cpu, srv = time.perf_counter(), time.process_time(), server_cpu()
    run()
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    srv = server_cpu() - srv
    return Figures(n / wall, cpu / n * 1e6, srv / n * 1e6)


def sequential(endpoint: str, n: int, round_no: int) -> Callable[[], None]:
    def run() -> None:
        with grpc.insecure_channel(endpoint) as channel:
            put = rpc_pb2_grpc.KVStub(channel).Put
            for i in range(n):
                put(rpc_pb2.PutRequest(key=b"seq/%d/%08d" % (round_no, i), value=VALUE))

    return run


def concurrent(endpoint: str, n: int, round_no: int) -> Callable[[], None]:
    async def main() -> None:
        async with grpc.aio.insecure_channel(endpoint) as channel:
            put = rpc_pb2_grpc.KVStub(channel).Put
            counter = iter(range(n))

            async def worker() -> None:
                for i in counter:
                    await put(rpc_pb2.PutRequest(key=b"conc/%d/%08d" % (round_no, i), value=VALUE))

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    return lambda: asyncio.run(main())


def warm_up(endpoint: str) -> None:
    sequential(endpoint, 500, -1)()
    concurrent(endpoint, 2000, -1)()


def report(name: str, rounds: list[Figures]) -> None:
    def med(values: list[float]) -> str:
        return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"

    print(
        f"{name:5} puts/s {med([r.ops_per_s for r in rounds])}"
        f"  process CPU us/put {med([r.process_us for r in rounds])}"
        f"  server CPU us/put {med([r.server_us for r in rounds])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seq", type=int, default=5000, help="sequential puts per round")
    parser.add_argument("--conc", type=int, default=20000, help="concurrent puts per round")
    args = parser.parse_args()
    print(f"server_ref from {etcd3py.server_ref.__file__}")
    with EmbeddedServer() as server:
        clock = server_clock()
        warm_up(server.endpoint)
        seq: list[Figures] = []
        conc: list[Figures] = []
        for r in range(args.rounds):
            seq.append(measure(args.seq, sequential(server.endpoint, args.seq, r), clock))
            conc.append(measure(args.conc, concurrent(server.endpoint, args.conc, r), clock))
    report("seq", seq)
    report("conc", conc)


if __name__ == "__main__":
    main()
