"""The snapshot format of server_ref's store.

etcd's snapshot is its bbolt file. server_ref has no bbolt file: its snapshot is a
header line, then every live key-value as a length-prefixed mvccpb.KeyValue.
etcdutl cannot restore this format. The Maintenance service streams it as etcd
streams its file (api/maintenance.py).
"""

from __future__ import annotations

from etcd3py._proto import kv_pb2

from ..wire import varint
from .store import Store, fill_kv

MAGIC = b"etcd3py-server-ref-snapshot 1\n"


def encode(store: Store) -> bytes:
    """The store at its current revision (taken at once, so consistent)."""
    parts = [MAGIC, b"revision %d\n" % store.rev]
    for version in store.range(b"\x00", b"\x00").kvs:
        kv = kv_pb2.KeyValue()
        fill_kv(kv, version)
        data = kv.SerializeToString()
        parts.append(varint(len(data)))
        parts.append(data)
    return b"".join(parts)
