"""Snapshots of the store, streamed as etcd streams its backend file.

etcd sends its bbolt file in 32 KiB chunks, then the file's SHA-256 as a last
chunk. server_ref has no bbolt file: it sends its own format (a header line, then
every live key-value as a length-prefixed mvccpb.KeyValue) the same way, digest
included, so a client that saves and checks snapshots works unchanged. etcdutl
cannot restore this format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from etcd3py._proto import kv_pb2

from ..apply.applier import fill_kv
from .store import Store

CHUNK = 32 * 1024  # etcd's snapshotSendBufferSize
MAGIC = b"etcd3py-server-ref-snapshot 1\n"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode(store: Store) -> bytes:
    parts = [MAGIC, b"revision %d\n" % store.rev]
    for version in store.range(b"\x00", b"\x00").kvs:
        kv = kv_pb2.KeyValue()
        fill_kv(kv, version)
        data = kv.SerializeToString()
        parts.append(_varint(len(data)))
        parts.append(data)
    return b"".join(parts)


def chunks(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(blob, remaining bytes) pairs, then the SHA-256 of the data with 0 remaining."""
    sent = 0
    while sent < len(data):
        blob = data[sent : sent + CHUNK]
        sent += len(blob)
        yield blob, len(data) - sent
    yield hashlib.sha256(data).digest(), 0
