"""Status, MemberList, response headers, alarms, hashes and the snapshot stream."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable

import google_crc32c
import grpc

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2
from etcd3py.server_ref.storage.etcd_db import read_db
from tests.support.backends import RPC_TIMEOUT, Backend, WatchStream
from tests.support.errors import raises_etcd


def status(backend: Backend) -> rpc_pb2.StatusResponse:
    return backend.maintenance.Status(rpc_pb2.StatusRequest(), timeout=RPC_TIMEOUT)


def members(backend: Backend) -> rpc_pb2.MemberListResponse:
    return backend.cluster.MemberList(rpc_pb2.MemberListRequest(), timeout=RPC_TIMEOUT)


def test_status(backend: Backend, prefix: bytes) -> None:
    rev = backend.put(prefix + b"k").header.revision
    s = status(backend)
    assert s.version == "3.5.1"
    assert s.header.revision == rev
    assert s.leader == s.header.member_id != 0
    assert s.raftTerm == s.header.raft_term >= 1
    assert s.raftIndex >= s.raftAppliedIndex > 0
    assert s.dbSize > 0 and not s.isLearner
    later = backend.put(prefix + b"k")
    assert status(backend).raftIndex > s.raftIndex
    assert later.header.revision == rev + 1


def test_member_list(backend: Backend) -> None:
    resp = members(backend)
    assert len(resp.members) == 1
    me = resp.members[0]
    assert resp.header.member_id == me.ID
    assert me.name == "default" and not me.isLearner
    assert f"http://{backend.endpoint}" in me.clientURLs
    assert me.peerURLs
    # etcd's cluster service leaves the revision out of its headers
    assert resp.header.revision == 0 and resp.header.cluster_id != 0


def test_headers_agree_across_services(
    backend: Backend, watch: WatchStream, prefix: bytes, grant: Callable[..., int]
) -> None:
    lease = grant(30)
    headers = [
        backend.put(prefix + b"k", lease=lease).header,
        backend.range(prefix + b"k").header,
        backend.txn().header,
        backend.delete(prefix + b"none").header,
        status(backend).header,
        members(backend).header,
        backend.lease.LeaseTimeToLive(
            rpc_pb2.LeaseTimeToLiveRequest(ID=lease), timeout=RPC_TIMEOUT
        ).header,
        watch.create(prefix + b"k").header,
    ]
    identity = {(h.cluster_id, h.member_id, h.raft_term) for h in headers}
    assert len(identity) == 1
    cluster, member, term = identity.pop()
    assert cluster and member and term


def alarm(backend: Backend, action: int, kind: int, member: int = 0) -> rpc_pb2.AlarmResponse:
    req = rpc_pb2.AlarmRequest(action=action, alarm=kind, memberID=member)
    return backend.maintenance.Alarm(req, timeout=RPC_TIMEOUT)


def test_nospace_alarm_stops_writes_that_add_data(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    A = rpc_pb2.AlarmRequest
    me = status(backend).header.member_id
    backend.put(prefix + b"k", b"v")
    assert list(alarm(backend, A.GET, rpc_pb2.NONE).alarms) == []
    raised = alarm(backend, A.ACTIVATE, rpc_pb2.NOSPACE, me)
    try:
        assert [(a.memberID, a.alarm) for a in raised.alarms] == [(me, rpc_pb2.NOSPACE)]
        listed = alarm(backend, A.GET, rpc_pb2.NONE).alarms
        assert [(a.memberID, a.alarm) for a in listed] == [(me, rpc_pb2.NOSPACE)]
        assert status(backend).errors  # the alarm shows in Status
        raises_etcd(E.NO_SPACE, backend.put, prefix + b"k", b"w")
        put_op = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=prefix + b"k"))
        raises_etcd(E.NO_SPACE, backend.txn, success=[put_op])
        raises_etcd(E.NO_SPACE, backend.grant, 30)
        # reads and deletes still work
        assert backend.range(prefix + b"k").kvs[0].value == b"v"
        assert backend.delete(prefix + b"k").deleted == 1
    finally:
        lowered = alarm(backend, A.DEACTIVATE, rpc_pb2.NOSPACE, me)
    assert [(a.memberID, a.alarm) for a in lowered.alarms] == [(me, rpc_pb2.NOSPACE)]
    assert list(alarm(backend, A.GET, rpc_pb2.NONE).alarms) == []
    backend.put(prefix + b"k", b"w")
    assert grant(30)


def lease_ids(backend: Backend) -> list[int]:
    resp = backend.lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=RPC_TIMEOUT)
    return sorted(lease.ID for lease in resp.leases)


def test_raft_index_counts_every_logged_proposal(backend: Backend, prefix: bytes) -> None:
    """etcd logs a write before applying it, so one that fails when applied still takes
    a raft index; reads, and writes refused before logging (too large), take none.
    Every Alarm request, GET included, is logged."""
    too_large = b"x" * 1_600_000  # over max-request-bytes, under gRPC's own limit
    ops: list[tuple[int, Callable[[], object]]] = [
        (1, lambda: backend.put(prefix + b"k", b"v")),
        (1, lambda: backend.put(prefix + b"k", b"v", lease=0x7EADBEEF)),  # no such lease
        (1, lambda: backend.put(prefix + b"absent", ignore_value=True)),  # no such key
        (1, lambda: backend.delete(prefix + b"absent")),
        (1, lambda: backend.kv.Compact(rpc_pb2.CompactionRequest(revision=1 << 40))),
        (1, lambda: backend.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=0x7EADBEEF))),
        (1, lambda: alarm(backend, rpc_pb2.AlarmRequest.GET, rpc_pb2.NONE)),
        (0, lambda: backend.range(prefix + b"k")),
        (0, lambda: backend.txn(success=[rpc_pb2.RequestOp(request_range=_range(prefix))])),
        (0, lambda: backend.put(prefix + b"k", too_large)),
    ]
    # An expiring lease (left by another test) is revoked by a proposal of its own:
    # measure again if the leases changed while we counted.
    for _ in range(3):
        leases = lease_ids(backend)
        counted = []
        for _expected, op in ops:
            before = status(backend).raftIndex
            with contextlib.suppress(grpc.RpcError):
                op()
            counted.append(status(backend).raftIndex - before)
        if lease_ids(backend) == leases:
            break
    assert counted == [expected for expected, _op in ops]


def _range(prefix: bytes) -> rpc_pb2.RangeRequest:
    return rpc_pb2.RangeRequest(key=prefix + b"k")


def test_hash_kv_follows_the_data(backend: Backend, prefix: bytes) -> None:
    def hash_kv(revision: int = 0) -> rpc_pb2.HashKVResponse:
        req = rpc_pb2.HashKVRequest(revision=revision)
        return backend.maintenance.HashKV(req, timeout=RPC_TIMEOUT)

    rev = backend.put(prefix + b"k", b"1").header.revision
    first = hash_kv()
    assert hash_kv().hash == first.hash
    assert hash_kv(rev).hash == first.hash
    backend.put(prefix + b"k", b"2")
    assert hash_kv().hash != first.hash
    assert hash_kv(rev).hash == first.hash  # history up to rev is unchanged


def test_hash_kv_revisions(backend: Backend, prefix: bytes) -> None:
    """HashKV refuses the compaction revision itself (a Range may read it), answers a
    future one as future, and hashes a negative one as no record at all."""

    def hash_kv(revision: int) -> rpc_pb2.HashKVResponse:
        req = rpc_pb2.HashKVRequest(revision=revision)
        return backend.maintenance.HashKV(req, timeout=RPC_TIMEOUT)

    compact_at = backend.put(prefix + b"k", b"1").header.revision
    after = backend.put(prefix + b"k", b"2").header.revision
    req = rpc_pb2.CompactionRequest(revision=compact_at, physical=True)
    backend.kv.Compact(req, timeout=RPC_TIMEOUT)
    current = hash_kv(0)
    assert (current.compact_revision, current.header.revision) == (compact_at, after)
    assert hash_kv(after).hash == current.hash
    raises_etcd(E.COMPACTED, hash_kv, compact_at)
    raises_etcd(E.COMPACTED, hash_kv, compact_at - 1)
    backend.range(prefix + b"k", revision=compact_at)  # a read there is still answered
    raises_etcd(E.FUTURE_REV, hash_kv, after + 1)
    negative = hash_kv(-1)
    assert (negative.hash, negative.compact_revision) == (google_crc32c.value(b"key"), compact_at)


def test_snapshot_stream(backend: Backend, prefix: bytes) -> None:
    """etcd's db in 32 KiB chunks counting down the bytes left, then its SHA-256 with
    0 left; no header."""
    backend.put(prefix + b"k", b"in the snapshot" * 5000)
    chunks = list(backend.maintenance.Snapshot(rpc_pb2.SnapshotRequest(), timeout=RPC_TIMEOUT))
    db = b"".join(chunk.blob for chunk in chunks[:-1])
    assert [len(c.blob) for c in chunks[:-2]] == [32 * 1024] * (len(chunks) - 2)
    assert [c.remaining_bytes for c in chunks[:-1]] == [
        len(db) - sum(len(c.blob) for c in chunks[: i + 1]) for i in range(len(chunks) - 1)
    ]
    assert (chunks[-1].blob, chunks[-1].remaining_bytes) == (hashlib.sha256(db).digest(), 0)
    assert not any(chunk.HasField("header") for chunk in chunks)
    records = [r for r in read_db(db).records if r.key == prefix + b"k"]
    assert [r.value for r in records] == [b"in the snapshot" * 5000]
