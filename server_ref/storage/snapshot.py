"""Snapshot files: the db file followed by its SHA-256, as etcd's Maintenance.Snapshot
streams it and ``etcdctl snapshot save`` stores it.

``etcdctl snapshot save`` only checks that the size is a multiple of 512 plus 32 (the db
is whole pages); ``etcdutl snapshot status`` runs bbolt's consistency check.
``etcdutl snapshot restore`` checks the digest, empties ``members`` and
``members_removed`` and fills them from its --initial-cluster flags, sets
``consistent_index`` to the number of members and ``term`` to 1, and writes a fresh WAL
and raft snapshot. Everything else is kept: an etcd started
on the restored directory takes its revision from the last ``key`` record (or
``finishedCompactRev`` when higher), resumes a ``scheduledCompactRev`` above the finished
one, grants the ``lease`` records afresh with their full TTL (3.5.1 does not read the
remaining TTL back) and attaches each key's latest lease.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from .etcd_db import EtcdState, read_db

DIGEST_SIZE = 32
SECTOR = 512  # etcd's test for a trailer: size % 512 == 32
CHUNK = 32 * 1024  # etcd's snapshotSendBufferSize


class SnapshotError(ValueError):
    """A snapshot file that is truncated or whose SHA-256 trailer does not match."""


def snapshot_bytes(db: bytes) -> bytes:
    """The snapshot file of a db: the db, then its SHA-256."""
    return db + hashlib.sha256(db).digest()


def snapshot_chunks(db: bytes, chunk: int = CHUNK) -> Iterator[tuple[bytes, int]]:
    """(blob, remaining db bytes) as Maintenance.Snapshot sends them: the db in chunks,
    then its SHA-256 with 0 remaining."""
    for start in range(0, len(db), chunk):
        blob = db[start : start + chunk]
        yield blob, len(db) - start - len(blob)
    yield hashlib.sha256(db).digest(), 0


def verify_snapshot(data: bytes, name: str = "<bytes>") -> bytes:
    """The db inside a snapshot file, once its trailer is checked."""
    if len(data) % SECTOR != DIGEST_SIZE:
        raise SnapshotError(
            f"{name}: {len(data)} bytes is not whole db pages plus a {DIGEST_SIZE}-byte "
            "sha256 trailer: the file is truncated or has no trailer"
        )
    db, digest = data[:-DIGEST_SIZE], data[-DIGEST_SIZE:]
    actual = hashlib.sha256(db).digest()
    if actual != digest:
        raise SnapshotError(
            f"{name}: sha256 trailer {digest.hex()} does not match the db's {actual.hex()}"
        )
    return db


def read_snapshot_file(path: str | Path) -> EtcdState:
    """The state in a snapshot file (``etcdctl snapshot save`` output), trailer checked."""
    name = str(path)
    return read_db(verify_snapshot(Path(path).read_bytes(), name), name)
