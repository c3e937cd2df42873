"""Helpers for the storage tests: etcdutl, a model of the key bucket, reading a server."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import google_crc32c
import grpc
import pytest

from etcd3py import Client, CompactedError, EventType
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref.embed.member import Member
from etcd3py.server_ref.server.server import EtcdServer
from etcd3py.server_ref.storage.bbolt import Bucket
from etcd3py.server_ref.storage.etcd_db import EtcdState, KeyRecord, Lease
from etcd3py.server_ref.storage.snapshot import read_snapshot_file
from tests.support.etcdctl import etcdctl
from tests.support.loop_thread import LoopThread
from tests.support.servers import EtcdProcess, etcd_bin_dir

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


def start_etcd(data_dir: Path, peer_port: int | None = None) -> EtcdProcess:
    return EtcdProcess(data_dir, peer_port=peer_port, extra_args=["--unsafe-no-fsync"]).start()


def save(endpoint: str, path: Path) -> EtcdState:
    etcdctl(endpoint, "snapshot", "save", str(path))
    return read_snapshot_file(path)


def raw_hash_kv(endpoint: str, revision: int) -> tuple[int, int]:
    """(hash, compact revision) of a HashKV call."""
    with grpc.insecure_channel(endpoint) as channel:
        response = rpc_pb2_grpc.MaintenanceStub(channel).HashKV(
            rpc_pb2.HashKVRequest(revision=revision), timeout=10
        )
    return response.hash, response.compact_revision


def changes_since(client: Client, start: int, last: int) -> list[tuple[bytes, int, bool]]:
    """(key, revision, deleted) of every change from ``start`` to ``last``, from a watch."""
    changes: list[tuple[bytes, int, bool]] = []
    with client.watch(b"\0", from_key=True, start_revision=start) as watch:
        for response in watch:
            for event in response.events:
                deleted = event.type == EventType.DELETE
                changes.append((event.kv.key, event.kv.mod_revision, deleted))
            if changes and changes[-1][1] >= last:
                return changes
    raise AssertionError("the watch ended early")


def assert_serves(client: Client, state: EtcdState) -> None:
    """The server holds ``state``'s key history: the same revision and compaction, each
    record as a Range at its revision returns it, and a watch replays the changes."""
    revision = client.status().header.revision
    assert revision == state.revision
    compacted = state.compact_revision
    below = [r for r in state.records if r.main <= compacted]
    above = [r for r in state.records if r.main > compacted]
    expected = [(r.key, r.value, r.create_revision, r.main, r.version, r.lease) for r in below]
    if compacted > 0:
        assert everything(client, compacted) == sorted(expected)
        with pytest.raises(CompactedError):
            client.get(b"any", revision=compacted - 1)
    for r in above:
        kvs = [
            (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
            for kv in client.get(r.key, revision=r.main).kvs
        ]
        record = (r.key, r.value, r.create_revision, r.main, r.version, r.lease)
        assert kvs == ([] if r.tombstone else [record])
    if above:
        replayed = changes_since(client, compacted + 1, revision)
        assert replayed == [(r.key, r.main, r.tombstone) for r in above]


def assert_leases(client: Client, leases: list[Lease], attached: dict[int, list[bytes]]) -> None:
    assert sorted(client.leases()) == sorted(lease.id for lease in leases)
    for lease in leases:
        info = client.time_to_live(lease.id, keys=True)
        assert info.granted_ttl == lease.ttl
        assert sorted(info.keys) == sorted(attached.get(lease.id, []))


def attached_keys(state: EtcdState) -> dict[int, list[bytes]]:
    """Lease id -> keys whose latest record is a put with that lease."""
    latest = {r.key: r for r in state.records}
    attached: dict[int, list[bytes]] = {}
    for record in latest.values():
        if record.lease and not record.tombstone:
            attached.setdefault(record.lease, []).append(record.key)
    return attached
