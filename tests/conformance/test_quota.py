"""The space quota and the NOSPACE alarm, on a dedicated server with a small quota.

What etcd 3.5.1 does (probed, and read in its quota.go, v3rpc/quota.go, apply.go):
before a Put, any Txn or a LeaseGrant goes further, the member compares its db size
(allocated, not in use) plus the request's cost with the quota; one that does not fit
is refused with NOSPACE and the member proposes a NOSPACE alarm instead. While the
alarm is raised, writes that add data are refused when applied. Compaction frees
pages but not the file: only a defragmentation brings the size down, and the alarm
stays until it is disarmed.

etcd updates its size when it commits (every 100 ms), so it may take more data than
its quota before refusing; the tests fill until refused rather than count.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from etcd3py import Alarm, AlarmType, Client
from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2
from tests.conftest import QuotaServer
from tests.support.backends import RPC_TIMEOUT, Backend
from tests.support.errors import raises_etcd

QUOTA = 2 * 1024 * 1024
VALUE = b"v" * (200 * 1024)
PUT_COST = 256 + len(b"fill/0000") + len(VALUE)  # etcd's kvOverhead + key + value
MOST_PUTS = 500  # etcd's overshoot is bounded by its 100 ms commit interval
SETTLE_TIMEOUT = 10.0
A = rpc_pb2.AlarmRequest


def status(backend: Backend) -> rpc_pb2.StatusResponse:
    return backend.maintenance.Status(rpc_pb2.StatusRequest(), timeout=RPC_TIMEOUT)


def alarm(backend: Backend, action: int, member: int = 0) -> rpc_pb2.AlarmResponse:
    req = A(action=action, alarm=rpc_pb2.NOSPACE, memberID=member)
    return backend.maintenance.Alarm(req, timeout=RPC_TIMEOUT)


def put_op(key: bytes, value: bytes = b"v") -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value))


def range_op(key: bytes) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key))


def fill(backend: Backend) -> int:
    """Put VALUE under new keys until the quota refuses one; return how many fitted."""
    for i in range(MOST_PUTS):
        try:
            backend.put(b"fill/%04d" % i, VALUE)
        except grpc.RpcError as err:
            assert (err.code(), err.details()) == (E.NO_SPACE.code, E.NO_SPACE.message)
            return i
    raise AssertionError(f"{MOST_PUTS} puts of {len(VALUE)} bytes never reached the quota")


def settled_sizes(
    backend: Backend, done: Callable[[rpc_pb2.StatusResponse], bool], nudge: bytes = b""
) -> rpc_pb2.StatusResponse:
    """Status once ``done`` holds. etcd updates its sizes when it commits, and frees
    compacted pages only at a later commit: ``nudge`` names a key to put meanwhile."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not done(s := status(backend)):
        assert time.monotonic() < deadline, f"sizes never settled: {s}"
        if nudge:
            backend.put(nudge, b"n")
        time.sleep(0.05)  # polling under a deadline: etcd commits every 100 ms
    return s


def raft_steps(backend: Backend, call: Callable[[], object]) -> tuple[str, int]:
    """What ``call`` answered ("ok" or etcd's message) and the raft indexes it took."""
    before = status(backend).raftIndex
    try:
        call()
        answer = "ok"
    except grpc.RpcError as err:
        answer = f"{err.code().name} {err.details()}"
    return answer, status(backend).raftIndex - before


def refused(spec: E.ErrorSpec) -> str:
    return f"{spec.code.name} {spec.message}"


def test_filling_the_quota_raises_nospace(quota_server: QuotaServer) -> None:
    backend = quota_server(QUOTA)
    member = status(backend).header.member_id
    fitted = fill(backend)
    assert fitted >= 1
    s = status(backend)
    assert s.dbSize + PUT_COST >= QUOTA  # etcd's rule: size + cost must stay under
    assert list(s.errors) == [f"memberID:{member} alarm:NOSPACE "]
    with Client(backend.endpoint) as client:
        assert client.alarms() == [Alarm(member, AlarmType.NOSPACE)]
        assert client.status().errors == [f"memberID:{member} alarm:NOSPACE "]
    # each refusal proposes the alarm again (one raft index), the put none
    assert raft_steps(backend, lambda: backend.put(b"fill/more", VALUE)) == (
        refused(E.NO_SPACE),
        1,
    )
    assert [a.alarm for a in alarm(backend, A.GET).alarms] == [rpc_pb2.NOSPACE]


def test_over_the_quota_adding_data_is_refused_before_any_check(
    quota_server: QuotaServer,
) -> None:
    """A quota below what a new member takes (20 KiB): every Put, every Txn (read-only
    ones too) and every LeaseGrant is refused before its request checks, and raises
    the alarm (one raft index each); everything else is served as usual."""
    backend = quota_server(16 * 1024)
    too_many = [range_op(b"k%d" % i) for i in range(200)]
    nospace = (refused(E.NO_SPACE), 1)
    kv, lease = backend.kv, backend.lease
    cases: list[tuple[str, Callable[[], object], tuple[str, int]]] = [
        ("put", lambda: backend.put(b"k", b"v"), nospace),
        ("put without a key", lambda: backend.put(b"", b"v"), nospace),
        ("put of a value and ignore_value",
         lambda: backend.put(b"k", b"v", ignore_value=True), nospace),
        ("read-only txn", lambda: backend.txn(success=[range_op(b"k")]), nospace),
        ("empty txn", lambda: backend.txn(), nospace),
        ("txn of too many ops", lambda: backend.txn(success=too_many), nospace),
        ("lease grant", lambda: backend.grant(60), nospace),
        ("lease grant of a TTL too large", lambda: backend.grant(10**12), nospace),
        ("range", lambda: backend.range(b"k"), ("ok", 0)),
        ("range without a key", lambda: backend.range(b""), (refused(E.EMPTY_KEY), 0)),
        ("delete", lambda: backend.delete(b"k"), ("ok", 1)),
        ("delete without a key", lambda: backend.delete(b""), (refused(E.EMPTY_KEY), 0)),
        ("compact in the future",
         lambda: kv.Compact(rpc_pb2.CompactionRequest(revision=1000), timeout=RPC_TIMEOUT),
         (refused(E.FUTURE_REV), 1)),
        ("lease revoke",
         lambda: lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=7), timeout=RPC_TIMEOUT),
         (refused(E.LEASE_NOT_FOUND), 1)),
        ("lease time to live",
         lambda: lease.LeaseTimeToLive(rpc_pb2.LeaseTimeToLiveRequest(ID=7), timeout=RPC_TIMEOUT),
         ("ok", 0)),
        ("alarm list", lambda: alarm(backend, A.GET), ("ok", 1)),
        ("hash", lambda: backend.maintenance.Hash(rpc_pb2.HashRequest(), timeout=RPC_TIMEOUT),
         ("ok", 0)),
    ]  # fmt: skip
    answers = {name: raft_steps(backend, call) for name, call, _expected in cases}
    assert answers == {name: expected for name, _call, expected in cases}
    member = status(backend).header.member_id
    assert [(a.memberID, a.alarm) for a in alarm(backend, A.GET).alarms] == [
        (member, rpc_pb2.NOSPACE)
    ]  # raised many times, listed once


def test_nospace_until_compaction_defragment_and_disarm(quota_server: QuotaServer) -> None:
    backend = quota_server(QUOTA)
    lease_id = backend.grant(600).ID
    fitted = fill(backend)
    full = status(backend)

    # compaction frees pages, not the file: still refused, even once disarmed
    # etcd may also have stored the put it refused (its applier's own check refuses
    # after writing, when its size changed since the first check)
    assert backend.delete(b"fill/", range_end=b"fill0").deleted in (fitted, fitted + 1)
    revision = backend.revision()
    compaction = rpc_pb2.CompactionRequest(revision=revision, physical=True)
    backend.kv.Compact(compaction, timeout=RPC_TIMEOUT)
    assert status(backend).dbSize >= full.dbSize
    with Client(backend.endpoint) as client:
        member = client.status().member_id
        assert client.disarm() == [Alarm(member, AlarmType.NOSPACE)]
        assert client.alarms() == []
        raises_etcd(E.NO_SPACE, backend.put, b"again", VALUE)
        assert client.alarms() == [Alarm(member, AlarmType.NOSPACE)]  # raised again

        # defragmenting gives the space back; the alarm stays until disarmed
        client.defragment()
        defragmented = settled_sizes(backend, lambda s: s.dbSize < full.dbSize)
        assert defragmented.dbSize + PUT_COST < QUOTA
        assert defragmented.dbSizeInUse <= defragmented.dbSize
        assert client.alarms() == [Alarm(member, AlarmType.NOSPACE)]

        # raised, under the quota: what adds data is refused when applied (one
        # raft index each); a nested txn's puts cost nothing in etcd and pass
        nested = rpc_pb2.TxnRequest(success=[put_op(b"nested")])
        keepalive = backend.lease.LeaseKeepAlive(
            iter([rpc_pb2.LeaseKeepAliveRequest(ID=lease_id)]), timeout=RPC_TIMEOUT
        )
        cases: list[tuple[str, Callable[[], object], tuple[str, int]]] = [
            ("put", lambda: backend.put(b"k", b"v"), (refused(E.NO_SPACE), 1)),
            ("txn put", lambda: backend.txn(success=[put_op(b"k")]), (refused(E.NO_SPACE), 1)),
            ("txn put not taken", lambda: backend.txn(failure=[put_op(b"k")]),
             (refused(E.NO_SPACE), 1)),
            ("lease grant", lambda: backend.grant(60), (refused(E.NO_SPACE), 1)),
            ("put without a key", lambda: backend.put(b"", b"v"), (refused(E.EMPTY_KEY), 0)),
            ("nested txn put",
             lambda: backend.txn(success=[rpc_pb2.RequestOp(request_txn=nested)]), ("ok", 1)),
            ("read-only txn", lambda: backend.txn(success=[range_op(b"k")]), ("ok", 0)),
            ("txn delete", lambda: backend.txn(
                success=[rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(
                    key=b"nested"))]), ("ok", 1)),
            ("delete", lambda: backend.delete(b"k"), ("ok", 1)),
            ("keep alive", lambda: next(keepalive), ("ok", 0)),
            ("lease revoke", lambda: backend.lease.LeaseRevoke(
                rpc_pb2.LeaseRevokeRequest(ID=lease_id), timeout=RPC_TIMEOUT), ("ok", 1)),
            ("compact", lambda: backend.kv.Compact(
                rpc_pb2.CompactionRequest(revision=backend.revision()), timeout=RPC_TIMEOUT),
             ("ok", 1)),
        ]  # fmt: skip
        answers = {name: raft_steps(backend, call) for name, call, _expected in cases}
        keepalive.cancel()
        assert answers == {name: expected for name, _call, expected in cases}

        # disarmed: writes work again
        assert client.disarm() == [Alarm(member, AlarmType.NOSPACE)]
        assert client.put(b"again", VALUE).header.revision > revision
        assert client.grant(60).id
        assert status(backend).errors == []


def test_sizes_follow_history_compaction_and_defragment(quota_server: QuotaServer) -> None:
    backend = quota_server(0)  # etcd's default quota
    fresh = status(backend)
    assert fresh.dbSizeInUse <= fresh.dbSize < 64 * 1024
    keys, rounds = 5, 4
    for _ in range(rounds):
        for i in range(keys):
            backend.put(b"key/%d" % i, VALUE)
    stored = keys * rounds * len(VALUE)
    written = settled_sizes(backend, lambda s: s.dbSizeInUse >= stored)
    assert written.dbSize >= written.dbSizeInUse

    backend.kv.Compact(
        rpc_pb2.CompactionRequest(revision=backend.revision(), physical=True), timeout=RPC_TIMEOUT
    )
    compacted = settled_sizes(
        backend, lambda s: s.dbSizeInUse < written.dbSizeInUse / 2, nudge=b"nudge"
    )
    assert compacted.dbSize >= written.dbSize  # the file keeps its pages
    assert compacted.dbSizeInUse >= keys * len(VALUE)  # the latest versions stay

    backend.maintenance.Defragment(rpc_pb2.DefragmentRequest(), timeout=RPC_TIMEOUT)
    defragmented = settled_sizes(backend, lambda s: s.dbSize < written.dbSize / 2)
    assert keys * len(VALUE) <= defragmented.dbSizeInUse <= defragmented.dbSize
