"""Snapshot files and real etcd 3.5.1: a snapshot etcd saves reads back as the server
reports it, one we write is accepted by etcdutl and served by an etcd restored from
it, and HashKV is computed as etcd computes it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etcd3py import Client, Delete, Put
from etcd3py.server_ref.storage.etcd_db import EtcdState, Lease, Member, state_buckets, write_db
from etcd3py.server_ref.storage.hash import hash_kv
from etcd3py.server_ref.storage.snapshot import snapshot_bytes
from tests.storage.tools import (
    History,
    assert_leases,
    assert_serves,
    attached_keys,
    etcdutl_restore,
    etcdutl_status,
    everything,
    raw_hash_kv,
    save,
    start_etcd,
    status_of,
)
from tests.support.servers import EtcdProcess, free_port

# ------------------------------------------------------------------ reading etcd's


@dataclass
class Saved:
    etcd: EtcdProcess
    path: Path
    state: EtcdState
    compact_at: int


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Saved]:
    """A real etcd after puts (many pages, an overflowing value), overwrites, a txn,
    deletes, leases (one revoked), a compaction; and the snapshot etcdctl saved of it."""
    root = tmp_path_factory.mktemp("saved")
    etcd = start_etcd(root / "etcd")
    try:
        with Client(etcd.endpoint) as client:
            for i in range(300):
                client.put(b"k%03d" % i, bytes([i % 251]) * 1000)
            client.put(b"big", bytes(range(256)) * 400)
            client.put(b"k000", b"again")
            keeper = client.grant(600)
            client.put(b"leased", b"v", lease=keeper.id)
            client.txn(
                success=[Put(b"t1", b"a"), Put(b"t2", b"b", lease=keeper.id), Delete(b"k001")]
            )
            client.delete(b"k01", prefix=True)
            compact_at = client.put(b"k002", b"before compaction").header.revision
            client.put(b"k002", b"after compaction")
            client.delete(b"k003")
            doomed = client.grant(600)
            client.put(b"doomed", b"x", lease=doomed.id)
            client.revoke(doomed.id)
            client.compact(compact_at, physical=True)
            client.put(b"last", b"l")
        state = save(etcd.endpoint, root / "snapshot.db")
        yield Saved(etcd, root / "snapshot.db", state, compact_at)
    finally:
        etcd.remove()


def test_reads_what_etcd_saved(saved: Saved) -> None:
    state = saved.state
    assert state.compact_revision == state.scheduled_compact_revision == saved.compact_at
    # the tombstones of k001 and k010-k019 were compacted away
    assert [r.key for r in state.records if r.tombstone] == [b"k003", b"doomed"]
    assert max(len(r.value) for r in state.records) == 102400
    with Client(saved.etcd.endpoint) as client:
        assert_serves(client, state)
        assert_leases(client, state.leases, attached_keys(state))
        status = client.status()
        members = client.member_list()
    assert [(m.id, m.name, m.peer_urls) for m in state.members] == [
        (m.id, m.name, tuple(m.peer_urls)) for m in members
    ]
    assert state.term == status.raft_term
    assert 0 < state.consistent_index <= status.raft_index
    assert state.cluster_version == "3.5.0"
    assert state.alarms == [] and not state.auth_enabled


@pytest.mark.slow
def test_etcd_restored_from_a_rewritten_snapshot_serves_the_same(
    saved: Saved, tmp_path: Path
) -> None:
    """read_db then write_db keeps everything etcd serves, hashes included."""
    path = tmp_path / "rewritten.db"
    path.write_bytes(snapshot_bytes(write_db(saved.state)))
    assert etcdutl_status(path)["revision"] == saved.state.revision
    peer = free_port()
    etcdutl_restore(path, tmp_path / "restored", "default", f"http://127.0.0.1:{peer}")
    restored = start_etcd(tmp_path / "restored", peer)
    try:
        with Client(restored.endpoint) as client, Client(saved.etcd.endpoint) as original:
            assert_serves(client, saved.state)
            assert_leases(client, saved.state.leases, attached_keys(saved.state))
            for revision in range(saved.compact_at, saved.state.revision + 1):
                assert everything(client, revision) == everything(original, revision)
            for revision in [0, *range(saved.compact_at + 1, saved.state.revision + 1)]:
                ours = raw_hash_kv(restored.endpoint, revision)
                assert ours == raw_hash_kv(saved.etcd.endpoint, revision)
    finally:
        restored.remove()


# ------------------------------------------------------------------ writing for etcd


def written_history() -> tuple[History, list[Lease]]:
    """A key history as server_ref would hold it: many keys, an overflowing value,
    overwrites, a txn with a delete, leases (one with no keys), compacted mid-way."""
    h = History()
    for i in range(200):
        h.put(b"w%03d" % i, b"%d" % i * 50)
    h.put(b"big", b"z" * 70000)
    h.put(b"w000", b"second")
    h.put(b"w000", b"third")
    h.txn((b"t1", b"a", 0), (b"t2", b"b", 0x51), (b"w001", None, 0))
    h.put(b"leased", b"v", 0x51)
    h.delete(b"w002", b"w003")
    compact_at = h.put(b"w004", b"x")
    h.put(b"w004", b"y")
    h.delete(b"t1")
    h.put(b"w005", b"after")
    h.compact(compact_at)
    return h, [Lease(0x51, 300), Lease(0x52, 900)]


def test_etcd_restored_from_a_written_snapshot_serves_it(tmp_path: Path) -> None:
    history, leases = written_history()
    state = EtcdState(
        records=history.records,
        compact_revision=history.compacted,
        scheduled_compact_revision=history.compacted,
        leases=leases,
        members=[Member(0x1234, ("http://127.0.0.1:1",), "ref")],
        cluster_version="3.5.0",
        consistent_index=40,
        term=3,
    )
    path = tmp_path / "written.db"
    path.write_bytes(snapshot_bytes(write_db(state)))
    status = etcdutl_status(path)
    assert (status["hash"], status["totalKey"]) == status_of(state_buckets(state))
    assert status["revision"] == history.revision == state.revision

    peer = free_port()
    etcdutl_restore(path, tmp_path / "restored", "restored", f"http://127.0.0.1:{peer}")
    etcd = start_etcd(tmp_path / "restored", peer)
    try:
        with Client(etcd.endpoint) as client:
            assert_serves(client, state)
            assert_leases(client, leases, {0x51: [b"leased", b"t2"]})
            live = sorted(
                (r.key, r.value, r.create_revision, r.main, r.version, r.lease)
                for r in history.live.values()
            )
            assert everything(client, state.revision) == live
            assert raw_hash_kv(etcd.endpoint, 0) == (
                hash_kv(state.records, state.compact_revision, state.revision),
                state.compact_revision,
            )
            assert client.put(b"next", b"n").header.revision == state.revision + 1
    finally:
        etcd.remove()


# ------------------------------------------------------------------ HashKV


def random_changes(client: Client, rng: random.Random, count: int) -> None:
    """Puts (some with a lease), deletes, prefix deletes, txns, a lease revoked."""
    keys = [b"h/%d" % i for i in range(6)]
    for _ in range(count):
        op = rng.random()
        key = rng.choice(keys)
        if op < 0.45:
            client.put(key, b"v%d" % rng.randrange(1000))
        elif op < 0.6:
            lease = client.grant(600)
            client.put(key, b"leased", lease=lease.id)
            if rng.random() < 0.5:
                client.revoke(lease.id)
        elif op < 0.75:
            client.delete(key)
        elif op < 0.8:
            client.delete(b"h/", prefix=True)
        else:
            chosen = rng.sample(keys, 3)
            client.txn(success=[Put(chosen[0], b"t"), Put(chosen[1], b"u"), Delete(chosen[2])])


def assert_hashes_match(endpoint: str, path: Path) -> EtcdState:
    """HashKV at every revision etcd still has, and at 0 (current), equals ours."""
    state = save(endpoint, path)
    current = hash_kv(state.records, state.compact_revision, state.revision)
    assert raw_hash_kv(endpoint, 0) == (current, state.compact_revision)
    for revision in range(max(state.compact_revision + 1, 1), state.revision + 1):
        ours = hash_kv(state.records, state.compact_revision, revision)
        assert raw_hash_kv(endpoint, revision)[0] == ours, f"at revision {revision}"
    return state


@pytest.mark.parametrize("seed", [1, 2])
def test_hash_kv_as_etcd_computes_it(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    etcd = start_etcd(tmp_path / "etcd")
    try:
        with Client(etcd.endpoint) as client:
            assert_hashes_match(etcd.endpoint, tmp_path / "empty.db")
            random_changes(client, rng, 40)
            state = assert_hashes_match(etcd.endpoint, tmp_path / "uncompacted.db")
            assert state.compact_revision == -1
            client.compact(rng.randrange(2, state.revision), physical=True)
            random_changes(client, rng, 30)
            assert_hashes_match(etcd.endpoint, tmp_path / "compacted.db")
            client.delete(b"h/", prefix=True)
            client.compact(client.status().header.revision, physical=True)  # nothing kept
            assert_hashes_match(etcd.endpoint, tmp_path / "emptied.db")
            random_changes(client, rng, 20)
            assert_hashes_match(etcd.endpoint, tmp_path / "refilled.db")
    finally:
        etcd.remove()
