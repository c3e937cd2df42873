"""What a snapshot and a hash of server_ref cost: the steps of Maintenance.Snapshot,
Hash and HashKV, and of restoring a state, timed on a store of N keys.

    python benchmarks/server_ref_snapshot.py [--keys 100000] [--value-bytes 100] [--rounds 3]

Builds an in-process EtcdServer (no gRPC) with one put per key, then times, per round:
``freeze`` (what runs on the event loop), ``to_state`` (the records), ``write_db`` (the
bbolt file), HashKV at the current revision, Hash (the whole db), ``read_db`` and
``restore`` into a fresh server. Prints the median of the rounds, in seconds. The
machine's other work shows in the figures: compare runs made at about the same time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from etcd3py._proto import rpc_pb2
from etcd3py.server_ref.embed.config import DEFAULTS
from etcd3py.server_ref.server.server import EtcdServer
from etcd3py.server_ref.server.state import freeze, restore
from etcd3py.server_ref.storage.etcd_db import read_db, write_db


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server = EtcdServer(DEFAULTS.server_config())
    value = b"v" * args.value_bytes
    for i in range(args.keys):
        server.propose(rpc_pb2.PutRequest(key=b"key/%09d" % i, value=value))
    frozen = freeze(server)
    state = frozen.to_state()
    db = write_db(state)
    print(f"{args.keys} keys, {args.value_bytes}-byte values: a {len(db) / 1e6:.1f} MB db")

    steps: dict[str, Callable[[], object]] = {
        "freeze (on the loop)": lambda: freeze(server),
        "to_state (records)": frozen.to_state,
        "write_db": lambda: write_db(state),
        "HashKV at revision 0": lambda: frozen.keys.hash_kv(server.store.rev),
        "Hash (whole db)": frozen.hash,
        "read_db": lambda: read_db(db),
        "restore": lambda: restore(EtcdServer(DEFAULTS.server_config()), state),
    }
    for name, step in steps.items():
        median = statistics.median(timed(step) for _ in range(args.rounds))
        print(f"{name:24s} {median:8.3f} s")


if __name__ == "__main__":
    main()
