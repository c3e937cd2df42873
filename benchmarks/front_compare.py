"""What the front listener (one port for gRPC and HTTP, server_ref/embed/front.py)
costs gRPC: one call at a time, server_ref in memory, through the front (the default)
and bound directly (``--listen-client-http-urls`` given).

    python benchmarks/front_compare.py [--calls 3000] [--runs 3]

Reports per mode the median latency of a Put and a Range and the server's CPU per call
(its process and the front's child process). The load at 64 calls in flight is
server_compare.py's: ``--command`` there runs the direct mode (see docs/server_ref.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import grpc  # noqa: E402

from benchmarks.server_procs import process_cpu  # noqa: E402
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc  # noqa: E402
from tests.support.servers import free_port, wait_until_serving  # noqa: E402

MODES = {
    "front (default)": [],
    "direct (--listen-client-http-urls)": ["--listen-client-http-urls", "http://127.0.0.1:0"],
}


def run_mode(extra: list[str], calls: int) -> tuple[float, float, float]:
    """(put p50 us, range p50 us, server CPU us per call) for one fresh server."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "etcd3py.server_ref", "--listen-client-urls",
         f"http://127.0.0.1:{port}", *extra],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_serving(f"127.0.0.1:{port}", 30, lambda: proc.poll() is None)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            put = rpc_pb2.PutRequest(key=b"k", value=b"v" * 256)
            get = rpc_pb2.RangeRequest(key=b"k")
            for _ in range(200):  # warm up
                kv.Put(put, timeout=5)
            cpu_before = process_cpu(proc.pid)
            put_times, get_times = [], []
            for _ in range(calls):
                t0 = time.perf_counter()
                kv.Put(put, timeout=5)
                t1 = time.perf_counter()
                kv.Range(get, timeout=5)
                put_times.append(t1 - t0)
                get_times.append(time.perf_counter() - t1)
            cpu = process_cpu(proc.pid) - cpu_before
        return (
            statistics.median(put_times) * 1e6,
            statistics.median(get_times) * 1e6,
            cpu / (2 * calls) * 1e6,
        )
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    print("| mode | run | Put p50 (us) | Range p50 (us) | server CPU per call (us) |")
    print("|---|---|---|---|---|")
    for run in range(1, args.runs + 1):
        for name, extra in MODES.items():
            put, get, cpu = run_mode(extra, args.calls)
            print(f"| {name} | {run} | {put:.0f} | {get:.0f} | {cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
