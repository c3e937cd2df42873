"""The writer of the watch workload: ``--count`` sequential puts with the raw sync stub.

It runs in its own process, so none of its CPU is counted against the watcher.
"""

from __future__ import annotations

import argparse

import grpc

from benchmarks.workers.harness import CALL_TIMEOUT, make_key
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--key-size", type=int, default=64)
    p.add_argument("--value-size", type=int, default=256)
    a = p.parse_args()
    with grpc.insecure_channel(a.endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        prefix, value = a.prefix.encode(), b"v" * a.value_size
        for i in range(a.count):
            key = make_key(prefix, i, a.key_size)
            kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=CALL_TIMEOUT)


if __name__ == "__main__":
    main()
