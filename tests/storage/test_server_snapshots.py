"""Snapshots from server_ref and from etcd, through etcd's own tools: ``etcdctl snapshot
save`` stores what the server streams, ``etcdutl snapshot status`` accepts it,
``etcdutl snapshot restore`` makes a data directory of it, and an etcd 3.5.1 started
there serves the same keys, history, compaction point, leases and hashes. The same
history saves the same db on both servers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from etcd3py import Client, Delete, Put
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref import EmbeddedServer
from etcd3py.server_ref.storage.etcd_db import Lease, state_buckets
from etcd3py.server_ref.storage.hash import hash_kv
from tests.conftest import BACKENDS
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
from tests.support.servers import RefProcess, free_port

Step = tuple[Any, ...]

# many keys (several pages), an overflowing value, overwrites, a txn with a lease and a
# delete, a lease with no key, a revoked lease with keys, multi-key deletes; compacted
# after BEFORE + AFTER at the revision BEFORE ends on; TAIL follows the compaction
BEFORE: list[Step] = [
    *(("put", b"w%03d" % i, b"%d" % i * 50, 0) for i in range(200)),
    ("put", b"big", b"z" * 70000, 0),
    ("grant", 0x51, 300),
    ("grant", 0x52, 900),
    ("grant", 0x53, 600),
    ("put", b"w000", b"second", 0),
    ("txn", [(b"t1", b"a", 0), (b"t2", b"b", 0x51), (b"w001", None, 0)]),
    ("put", b"leased", b"v", 0x51),
    ("put", b"moved", b"m", 0x51),
    ("put", b"doomed1", b"x", 0x53),
    ("put", b"doomed2", b"y", 0x53),
    ("revoke", 0x53),
    ("delete", [b"w002", b"w003"]),
    ("put", b"w004", b"at compaction", 0),
]
AFTER: list[Step] = [
    ("put", b"w004", b"after", 0),
    ("put", b"moved", b"m2", 0),  # off its lease
    ("delete", [b"t1"]),
    ("put", b"w005", b"after", 0x52),
]
TAIL: list[Step] = [("put", b"w006", b"last", 0)]
LEASES = [Lease(0x51, 300), Lease(0x52, 900)]  # 0x53 was revoked


def apply(client: Client, history: History, step: Step) -> None:
    """Apply ``step`` to the server and to the model; both agree on the revision."""
    kind, *args = step
    if kind == "grant":
        client.grant(args[1], lease_id=args[0])
        return
    if kind == "put":
        key, value, lease = args
        revision = client.put(key, value, lease=lease).header.revision
        assert revision == history.put(key, value, lease)
    elif kind == "txn":
        [changes] = args
        ops = [Delete(k) if v is None else Put(k, v, lease=lease) for k, v, lease in changes]
        revision = client.txn(success=ops).header.revision
        assert revision == history.txn(*changes)
    elif kind == "delete":
        [keys] = args
        revision = client.txn(success=[Delete(k) for k in keys]).header.revision
        assert revision == history.delete(*keys)
    else:
        [lease_id] = args
        keys = sorted(k for k, r in history.live.items() if r.lease == lease_id)
        client.revoke(lease_id)
        assert client.status().header.revision == history.delete(*keys)  # in key order


def write_history(client: Client) -> History:
    history = History()
    for step in [*BEFORE, *AFTER]:
        apply(client, history, step)
    compact_at = history.revision - len(AFTER)
    client.compact(compact_at, physical=True)
    history.compact(compact_at)
    for step in TAIL:
        apply(client, history, step)
    return history


@contextlib.contextmanager
def fresh_server(kind: str, tmp_path: Path) -> Iterator[str]:
    """A server of ``kind`` with nothing written yet; yields its endpoint."""
    if kind == "etcd":
        etcd = start_etcd(tmp_path / "source")
        try:
            yield etcd.endpoint
        finally:
            etcd.remove()
    else:
        with EmbeddedServer() as server:
            yield server.endpoint


def whole_hash(endpoint: str) -> rpc_pb2.HashResponse:
    with grpc.insecure_channel(endpoint) as channel:
        return rpc_pb2_grpc.MaintenanceStub(channel).Hash(rpc_pb2.HashRequest(), timeout=10)


def raw_hash_kv_or_error(endpoint: str, revision: int) -> tuple[Any, ...]:
    try:
        return raw_hash_kv(endpoint, revision)
    except grpc.RpcError as err:
        return err.code(), err.details()


@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKENDS)
def test_a_saved_snapshot_restores_into_etcd(kind: str, tmp_path: Path) -> None:
    """Save, status, restore, serve: etcd started on the restored directory serves what
    the server served, and the snapshot holds exactly the modelled key bucket."""
    path = tmp_path / "snapshot.db"
    with fresh_server(kind, tmp_path) as endpoint, Client(endpoint) as client:
        history = write_history(client)
        compacted, last = history.compacted, history.revision
        served = {rev: everything(client, rev) for rev in range(compacted, last + 1)}
        revisions = [0, *range(compacted - 1, last + 2)]  # compacted and future ones too
        hashes = {rev: raw_hash_kv_or_error(endpoint, rev) for rev in revisions}
        saved = save(endpoint, path)
    assert saved.records == history.records
    assert saved.compact_revision == saved.scheduled_compact_revision == compacted
    assert sorted(saved.leases, key=lambda lease: lease.id) == LEASES
    attached = {lease_id: sorted(keys) for lease_id, keys in attached_keys(saved).items()}
    assert attached == {0x51: [b"leased", b"t2"], 0x52: [b"w005"]}
    assert hashes[0] == (hash_kv(history.records, compacted, last), compacted)
    status = etcdutl_status(path)
    assert status["revision"] == last
    assert (status["hash"], status["totalKey"]) == status_of(state_buckets(saved))

    peer = free_port()
    etcdutl_restore(path, tmp_path / "restored", "restored", f"http://127.0.0.1:{peer}")
    etcd = start_etcd(tmp_path / "restored", peer)
    try:
        with Client(etcd.endpoint) as client:
            assert_serves(client, saved)
            assert_leases(client, saved.leases, attached_keys(saved))
            assert {rev: everything(client, rev) for rev in served} == served
            assert {rev: raw_hash_kv_or_error(etcd.endpoint, rev) for rev in revisions} == hashes
            assert client.put(b"next", b"n").header.revision == last + 1
    finally:
        etcd.remove()


def test_the_same_history_saves_the_same_db_on_both_servers(tmp_path: Path) -> None:
    """server_ref started with an etcd's name and peer URL is that member to a db: the
    same history gives the same snapshot content (keys, leases, members, compaction,
    consistent index, term), the same etcdutl status, and the same Hash and HashKV."""
    etcd = start_etcd(tmp_path / "etcd")
    ref = RefProcess(tmp_path / "ref", peer_port=etcd.peer_port, extra_args=["--unsafe-no-fsync"])
    try:
        ref.start()
        endpoints = {"etcd": etcd.endpoint, "server_ref": ref.endpoint}
        for endpoint in endpoints.values():
            with Client(endpoint) as client:
                history = write_history(client)
        saved = {kind: save(e, tmp_path / f"{kind}.db") for kind, e in endpoints.items()}
        assert saved["server_ref"] == saved["etcd"]
        statuses = [etcdutl_status(tmp_path / f"{kind}.db") for kind in endpoints]
        assert [(s["hash"], s["totalKey"], s["revision"]) for s in statuses] == [
            (statuses[0]["hash"], statuses[0]["totalKey"], history.revision)
        ] * 2
        hashes = [whole_hash(e) for e in endpoints.values()]
        assert [(h.hash, h.header.revision) for h in hashes] == [
            (hashes[0].hash, history.revision)
        ] * 2
        for rev in [-1, 0, *range(history.compacted - 1, history.revision + 2)]:
            answers = [raw_hash_kv_or_error(e, rev) for e in endpoints.values()]
            assert answers[0] == answers[1], f"HashKV at {rev}"
    finally:
        ref.remove()
        etcd.remove()
