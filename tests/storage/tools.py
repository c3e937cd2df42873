"""Helpers for the storage tests: etcdutl, a model of the key bucket, reading a server."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import google_crc32c

from etcd3py import Client
from etcd3py.server_ref.embed.member import Member
from etcd3py.server_ref.server.server import EtcdServer
from etcd3py.server_ref.storage.bbolt import Bucket
from etcd3py.server_ref.storage.etcd_db import EtcdState, KeyRecord
from tests.support.loop_thread import LoopThread
from tests.support.servers import etcd_bin_dir

TIMEOUT = 60


def etcdutl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(etcd_bin_dir() / "etcdutl"), *args], capture_output=True, text=True, timeout=TIMEOUT
    )


def etcdutl_status(path: Path) -> dict[str, int]:
    proc = etcdutl("snapshot", "status", str(path), "-w", "json")
    assert proc.returncode == 0, proc.stderr
    result: dict[str, int] = json.loads(proc.stdout)
    return result


def etcdutl_restore(snapshot: Path, data_dir: Path, name: str, peer_url: str) -> None:
    proc = etcdutl(
        "snapshot", "restore", str(snapshot), "--data-dir", str(data_dir), "--name", name,
        "--initial-cluster", f"{name}={peer_url}", "--initial-advertise-peer-urls", peer_url,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def status_of(root: Bucket) -> tuple[int, int]:
    """(hash, total keys) as ``etcdutl snapshot status`` computes them: CRC-32C over each
    top-level bucket's name and its keys and values (a nested bucket's value is nil)."""
    crc, total = 0, 0
    for name, bucket in sorted(root.entries.items()):
        assert isinstance(bucket, Bucket)
        crc = google_crc32c.extend(crc, name)
        for key, value in sorted(bucket.entries.items()):
            crc = google_crc32c.extend(crc, key)
            if isinstance(value, bytes):
                crc = google_crc32c.extend(crc, value)
            total += 1
    return crc, total


@dataclass
class History:
    """The key bucket etcd would hold after a sequence of changes: a test model."""

    records: list[KeyRecord] = field(default_factory=list)
    revision: int = 1
    compacted: int = -1
    live: dict[bytes, KeyRecord] = field(default_factory=dict)

    def txn(self, *changes: tuple[bytes, bytes | None, int]) -> int:
        """Apply (key, value or None to delete, lease) changes in one revision."""
        self.revision += 1
        for sub, (key, value, lease) in enumerate(changes):
            previous = self.live.pop(key, None)
            if value is None:
                assert previous is not None, "etcd writes no tombstone for a missing key"
                self.records.append(KeyRecord(key, self.revision, sub, tombstone=True))
                continue
            create = previous.create_revision if previous else self.revision
            version = previous.version + 1 if previous else 1
            record = KeyRecord(key, self.revision, sub, create, version, value, lease)
            self.records.append(record)
            self.live[key] = record
        return self.revision

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        return self.txn((key, value, lease))

    def delete(self, *keys: bytes) -> int:
        return self.txn(*((key, None, 0) for key in keys))

    def compact(self, revision: int) -> None:
        """Drop what compaction drops: at or below ``revision``, all but each key's latest
        record, and that one too when it is a tombstone."""
        latest: dict[bytes, KeyRecord] = {}
        for record in self.records:
            if record.main <= revision:
                latest[record.key] = record
        kept = {id(r) for r in latest.values() if not r.tombstone}
        self.records = [r for r in self.records if r.main > revision or id(r) in kept]
        self.compacted = revision


def everything(client: Client, revision: int) -> list[tuple[bytes, bytes, int, int, int, int]]:
    """Every key-value at ``revision`` as (key, value, create, mod, version, lease)."""
    response = client.get(b"\0", from_key=True, revision=revision)
    return [
        (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
        for kv in response.kvs
    ]


def sort_unordered(state: EtcdState) -> EtcdState:
    """The lists etcd keeps keyed by id (so in id or key-bytes order) sorted the same way."""
    state.leases.sort(key=lambda lease: lease.id.to_bytes(8, "big"))
    state.members.sort(key=lambda m: format(m.id, "x"))
    state.removed_member_ids.sort(key=lambda i: format(i, "x"))
    state.alarms.sort(key=lambda a: (a.member_id, a.alarm))
    return state


@contextlib.contextmanager
def serving(server: EtcdServer) -> Iterator[str]:
    """Serve ``server`` (built, and maybe restored, beforehand) on a free loopback port
    from an event loop of its own; yields the endpoint."""
    with LoopThread() as loop:
        member = Member(server, ("http://127.0.0.1:0",))
        loop.run(member.start())
        try:
            yield f"127.0.0.1:{member.ports[0]}"
        finally:
            loop.run(member.stop(grace=None))
