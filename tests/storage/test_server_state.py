"""server_ref's state captured and restored (server/state.py): a server restored from
what another captured answers every read, watch replay and hash as the first did, and
goes on from there alike; leases come back with their full TTL and their keys,
alarms with their gates, members as recorded."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd3py import Client, EventType
from etcd3py import _etcd_errors as E
from etcd3py._proto import kv_pb2, rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref.embed.config import DEFAULTS
from etcd3py.server_ref.errors import ServerError
from etcd3py.server_ref.lease.lessor import ELECTION_TIMEOUT
from etcd3py.server_ref.mvcc.watchable import Watcher, fill_event, take
from etcd3py.server_ref.server.membership import member_id
from etcd3py.server_ref.server.server import EtcdServer
from etcd3py.server_ref.server.state import capture, freeze, restore
from etcd3py.server_ref.storage.etcd_db import (
    Alarm,
    EtcdState,
    KeyRecord,
    Lease,
    Member,
    read_db,
    write_db,
)
from tests.storage.tools import serving, sort_unordered

A = rpc_pb2.AlarmRequest
ALL = {"key": b"\0", "range_end": b"\0"}


def new_server(**changes: Any) -> EtcdServer:
    return EtcdServer(dataclasses.replace(DEFAULTS, **changes).server_config())


def restored(state: EtcdState, **changes: Any) -> EtcdServer:
    server = new_server(**changes)
    restore(server, state)
    return server


# ------------------------------------------------------------------ histories

KEYS = [b"a", b"b", b"b/1", b"c"]
LEASES = [0x51, 0x52]
key = st.sampled_from(KEYS)
value = st.sampled_from([b"", b"x", b"yy"])
lease = st.sampled_from([0, 0, *LEASES])

put_op = st.tuples(st.just("put"), key, value, lease)
delete_op = st.tuples(st.just("delete"), key, st.booleans())
txn_op = st.tuples(
    st.just("txn"), st.lists(st.tuples(key, st.one_of(st.none(), value)), max_size=3)
)
compact_op = st.tuples(st.just("compact"), st.integers(0, 6))  # revisions back from now
grant_op = st.tuples(st.just("grant"), st.sampled_from(LEASES), st.sampled_from([5, 60]))
revoke_op = st.tuples(st.just("revoke"), st.sampled_from(LEASES))
alarm_op = st.tuples(
    st.just("alarm"), st.sampled_from([A.ACTIVATE, A.DEACTIVATE]), st.sampled_from([1, 2])
)
write = st.one_of(put_op, put_op, put_op, delete_op, txn_op, compact_op, grant_op, revoke_op)
# alarms are rare: once CORRUPT is raised every later write is refused
operations = st.lists(st.one_of(write, write, write, write, write, alarm_op), max_size=30)


def apply(server: EtcdServer, op: tuple[Any, ...]) -> bytes | str:
    """Apply ``op`` through the write path; the response bytes or the error text."""
    kind, *args = op
    try:
        if kind == "put":
            name, data, lease_id = args
            resp: Any = server.propose(rpc_pb2.PutRequest(key=name, value=data, lease=lease_id))
        elif kind == "delete":
            name, prefix = args
            end = name[:-1] + bytes([name[-1] + 1]) if prefix else b""
            resp = server.propose(rpc_pb2.DeleteRangeRequest(key=name, range_end=end))
        elif kind == "txn":
            ops = [
                rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=v))
                if v is not None
                else rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=k))
                for k, v in dict(args[0]).items()  # one change per key, as etcd requires
            ]
            resp = server.txn(rpc_pb2.TxnRequest(success=ops))
        elif kind == "compact":
            revision = max(1, server.store.rev - args[0])
            resp = server.propose(rpc_pb2.CompactionRequest(revision=revision))
        elif kind == "grant":
            resp = server.lease_grant(rpc_pb2.LeaseGrantRequest(ID=args[0], TTL=args[1]))
        elif kind == "revoke":
            resp = server.propose(rpc_pb2.LeaseRevokeRequest(ID=args[0]))
        else:
            action, alarm = args
            request = A(action=action, memberID=server.member.id, alarm=alarm)
            resp = server.propose(request)
    except ServerError as err:
        return err.spec.message
    return bytes(resp.SerializeToString(deterministic=True))


def answers(server: EtcdServer) -> dict[str, Any]:
    """Everything a client can see of the state: reads at every revision, the watch
    replay from the compaction point, HashKV at every revision, Hash, leases, alarms,
    Status figures."""
    store = server.store
    seen: dict[str, Any] = {}
    for rev in range(1, store.rev + 1):
        try:
            seen[f"range@{rev}"] = server.read(rpc_pb2.RangeRequest(**ALL, revision=rev))
        except ServerError as err:
            seen[f"range@{rev}"] = err.spec.message
    watcher = Watcher(b"\0", b"\0", max(store.compact_rev, 1), prev_kv=True)
    events: list[kv_pb2.Event] = []
    while watcher.next_rev <= store.rev:
        for version in take(store, watcher, store.rev)[1]:
            fill_event(event := kv_pb2.Event(), store, version, prev_kv=True)
            events.append(event)
    seen["watch"] = events
    keys = store.freeze()
    for rev in range(-1, store.rev + 2):
        try:
            seen[f"hash_kv@{rev}"] = keys.hash_kv(store.hash_revision(rev))
        except ServerError as err:
            seen[f"hash_kv@{rev}"] = err.spec.message
    seen["hash"] = freeze(server).hash()
    seen["leases"] = sorted(
        (x.id, x.ttl, sorted(x.keys)) for x in (server.lessor.lookup(i) for i in LEASES) if x
    )
    seen["alarms"] = sorted(server.alarms.active)
    seen["figures"] = (
        store.rev,
        store.compact_rev,
        server.backend.size_in_use,  # what etcd's db holds (the allocation keeps history)
        server.raft_index,
        server.applied_index,
    )
    return seen


def assert_full_ttls(server: EtcdServer, before: float, after: float) -> None:
    """Every lease expires its whole TTL plus the election timeout after the moment it
    was restored, which lies between ``before`` and ``after``."""
    for lease_id in server.lessor.ids():
        found = server.lessor.lookup(lease_id)
        assert found is not None
        extended = found.ttl + ELECTION_TIMEOUT
        assert before + extended <= found.expiry <= after + extended


@settings(max_examples=80, deadline=None)
@given(before=operations, after=operations)
def test_a_restored_server_answers_and_goes_on_as_the_original(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> None:
    original = new_server()
    for op in before:
        apply(original, op)
    state = capture(original)
    restore_began = time.monotonic()
    copies = [restored(state), restored(read_db(write_db(state)))]  # also through a db file
    restore_ended = time.monotonic()
    expected = answers(original)
    for copy in copies:
        assert answers(copy) == expected
        assert_full_ttls(copy, restore_began, restore_ended)
        assert sort_unordered(capture(copy)) == sort_unordered(capture(original))
    for op in after:
        answer = apply(original, op)
        for copy in copies:
            assert apply(copy, op) == answer, op
    expected = answers(original)
    for copy in copies:
        assert answers(copy) == expected
        assert sort_unordered(capture(copy)) == sort_unordered(capture(original))


# ------------------------------------------------------------------ what restore keeps


def test_what_capture_records() -> None:
    server = new_server(name="m1")
    server.lease_grant(rpc_pb2.LeaseGrantRequest(ID=0x51, TTL=1))  # raised to the minimum
    server.propose(rpc_pb2.PutRequest(key=b"k", value=b"v", lease=0x51))
    server.propose(A(action=A.ACTIVATE, memberID=7, alarm=rpc_pb2.NOSPACE))
    server.member.client_urls = ["http://127.0.0.1:2379"]  # published, not recorded
    state = capture(server)
    assert state.records == [KeyRecord(b"k", 2, 0, 2, 1, b"v", 0x51)]
    assert state.leases == [Lease(0x51, 2)]
    assert state.members == [Member(server.member.id, ("http://localhost:2380",), "m1")]
    assert state.alarms == [Alarm(7, rpc_pb2.NOSPACE)]
    assert (state.consistent_index, state.term) == (server.raft_index, server.raft_term) == (7, 2)
    assert (state.compact_revision, state.cluster_version) == (-1, "3.5.0")


def keys_of(server: EtcdServer, lease_id: int) -> list[bytes]:
    found = server.lessor.lookup(lease_id)
    assert found is not None
    return sorted(found.keys)


def test_keys_are_attached_to_their_restored_leases() -> None:
    original = new_server()
    for lease_id in (0x51, 0x52):
        original.lease_grant(rpc_pb2.LeaseGrantRequest(ID=lease_id, TTL=60))
    original.propose(rpc_pb2.PutRequest(key=b"moved", lease=0x51))
    original.propose(rpc_pb2.PutRequest(key=b"moved", lease=0x52))  # its latest lease counts
    original.propose(rpc_pb2.PutRequest(key=b"gone", lease=0x51))
    original.propose(rpc_pb2.DeleteRangeRequest(key=b"gone"))
    original.propose(rpc_pb2.PutRequest(key=b"kept", lease=0x51))
    copy = restored(capture(original))
    assert {i: keys_of(copy, i) for i in (0x51, 0x52)} == {0x51: [b"kept"], 0x52: [b"moved"]}
    copy.propose(rpc_pb2.LeaseRevokeRequest(ID=0x52))
    assert [kv.key for kv in copy.read(rpc_pb2.RangeRequest(**ALL)).kvs] == [b"kept"]


@pytest.mark.parametrize(
    ("alarm", "refused", "error"),
    [
        (rpc_pb2.NOSPACE, rpc_pb2.PutRequest(key=b"k"), E.NO_SPACE),
        (rpc_pb2.CORRUPT, rpc_pb2.DeleteRangeRequest(key=b"k"), E.CORRUPT),
    ],
)
def test_restored_alarms_gate_writes(alarm: int, refused: Any, error: E.ErrorSpec) -> None:
    original = new_server()
    original.propose(rpc_pb2.PutRequest(key=b"k"))
    original.propose(A(action=A.ACTIVATE, memberID=original.member.id, alarm=alarm))
    copy = restored(capture(original))
    with pytest.raises(ServerError) as info:
        copy.propose(refused)
    assert info.value.spec == error
    copy.propose(A(action=A.DEACTIVATE, memberID=copy.member.id, alarm=alarm))
    copy.propose(refused)  # cleared: allowed again


def test_a_scheduled_compaction_is_carried_out() -> None:
    records = [KeyRecord(b"k", 2, 0, 2, 1, b"1"), KeyRecord(b"k", 3, 0, 2, 2, b"2")]
    state = EtcdState(records=records, compact_revision=-1, scheduled_compact_revision=3)
    copy = restored(state)
    assert copy.store.compact_rev == 3
    assert capture(copy).records == records[1:]


def test_history_compaction_forgets_is_dropped_on_load() -> None:
    """A record compaction would have removed (a db taken mid-compaction) is not kept."""
    records = [
        KeyRecord(b"k", 2, 0, 2, 1, b"1"),
        KeyRecord(b"k", 3, 0, 2, 2, b"2"),
        KeyRecord(b"k", 4, 0, tombstone=True),
        KeyRecord(b"j", 5, 0, 5, 1, b"j"),
    ]
    copy = restored(EtcdState(records=records, compact_revision=4))
    assert capture(copy).records == records[3:]
    only_kept = restored(EtcdState(records=records[3:], compact_revision=4))
    assert copy.backend.size_in_use == only_kept.backend.size_in_use


def test_the_raft_counters_go_on_from_the_recorded_ones() -> None:
    copy = restored(EtcdState(consistent_index=40, term=3))
    resp = copy.propose(rpc_pb2.PutRequest(key=b"k"))
    assert isinstance(resp, rpc_pb2.PutResponse)
    assert (copy.raft_index, resp.header.raft_term, resp.header.revision) == (41, 3, 2)


def test_the_local_member_keeps_its_configured_attributes() -> None:
    """As etcd publishes its name and client URLs on start, over what was recorded."""
    state = capture(new_server(name="before"))
    copy = restored(state, name="after", advertise_client_urls=("http://10.0.0.2:2379",))
    assert [(m.id, m.name, m.client_urls) for m in copy.members] == [
        (state.members[0].id, "after", ["http://10.0.0.2:2379"])
    ]
    assert copy.members == [copy.member]


def test_a_foreign_member_becomes_the_local_one() -> None:
    """A data directory carries its member's identity: the server takes the recorded
    id and peer URLs, and keeps its configured name and client URLs."""
    recorded = Member(0x51234, ("http://10.0.0.1:2380",), "old-name")
    copy = restored(EtcdState(members=[recorded]), name="new-name")
    assert (copy.member.id, copy.member.peer_urls, copy.member.name) == (
        0x51234,
        ["http://10.0.0.1:2380"],
        "new-name",
    )
    assert copy.members == [copy.member] and copy.leader_id == 0x51234
    granted = copy.lease_grant(rpc_pb2.LeaseGrantRequest(TTL=60))
    assert isinstance(granted, rpc_pb2.LeaseGrantResponse)
    assert granted.ID >> 48 == 0x1234  # ids carry the member's low 16 bits, as etcd's do


def test_restore_refuses_what_it_cannot_load() -> None:
    used = new_server()
    used.propose(rpc_pb2.PutRequest(key=b"k"))
    with pytest.raises(ValueError, match="fresh server"):
        restore(used, EtcdState())
    strangers = [Member(1, ("http://a:1",)), Member(2, ("http://b:1",))]
    with pytest.raises(ValueError, match="not among the recorded members 1, 2"):
        restore(new_server(), EtcdState(members=strangers))
    ours = member_id(DEFAULTS.peer_urls, DEFAULTS.cluster_token)
    copy = restored(EtcdState(members=[*strangers, Member(ours, DEFAULTS.peer_urls)]))
    assert [m.id for m in copy.members] == [1, 2, ours] and copy.member.id == ours


# ------------------------------------------------------------------ through gRPC


def everything_at(client: Client, revision: int) -> list[tuple[Any, ...]]:
    response = client.get(b"\0", from_key=True, revision=revision)
    return [
        (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
        for kv in response.kvs
    ]


def replay(client: Client, start: int, last: int) -> list[tuple[Any, ...]]:
    """Every event from ``start`` to ``last`` of a watch with prev_kv."""
    seen: list[tuple[Any, ...]] = []
    if start > last:
        return seen
    with client.watch(b"\0", from_key=True, start_revision=start, prev_kv=True) as watch:
        for response in watch:
            for e in response.events:
                prev = e.prev_kv
                prev_fields = (prev.key, prev.value, prev.mod_revision) if prev else None
                seen.append((e.type == EventType.DELETE, e.kv.key, e.kv.mod_revision, prev_fields))
            if seen and seen[-1][2] >= last:
                return seen
    raise AssertionError("the watch ended early")


def hash_kv(endpoint: str, revision: int) -> tuple[int, int] | str:
    with grpc.insecure_channel(endpoint) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        try:
            resp = stub.HashKV(rpc_pb2.HashKVRequest(revision=revision), timeout=10)
        except grpc.RpcError as err:
            return str(err.details())
    return resp.hash, resp.compact_revision


def test_a_restored_server_serves_what_the_original_served() -> None:
    """Over gRPC: reads at every kept revision, the watch replay from the compaction
    point, HashKV at every revision, and the leases with their keys and full TTL."""
    original = new_server()
    with serving(original) as endpoint, Client(endpoint) as client:
        short, long_ = client.grant(30), client.grant(600)
        for i in range(20):
            client.put(b"k%d" % (i % 7), b"v%d" % i, lease=short.id if i % 3 == 0 else 0)
        client.put(b"held", b"h", lease=long_.id)
        client.delete(b"k1")
        compact_at = client.put(b"k2", b"at compaction").header.revision
        client.put(b"k2", b"after")
        client.delete(b"k", prefix=True)
        client.compact(compact_at)
        client.put(b"k0", b"last", lease=short.id)
        last = client.status().header.revision
        expected: dict[str, Any] = {
            "reads": [everything_at(client, rev) for rev in range(compact_at, last + 1)],
            "replay": replay(client, compact_at + 1, last),
            "hashes": [hash_kv(endpoint, rev) for rev in range(compact_at - 1, last + 2)],
            "hash0": hash_kv(endpoint, 0),
            "leases": {
                lid: sorted(client.time_to_live(lid, keys=True).keys)
                for lid in (short.id, long_.id)
            },
        }
    copy = restored(capture(original))  # taken once the original stopped serving
    with serving(copy) as endpoint, Client(endpoint) as client:
        assert client.status().header.revision == last
        ttls = {lid: client.time_to_live(lid, keys=True) for lid in (short.id, long_.id)}
        seen = {
            "reads": [everything_at(client, rev) for rev in range(compact_at, last + 1)],
            "replay": replay(client, compact_at + 1, last),
            "hashes": [hash_kv(endpoint, rev) for rev in range(compact_at - 1, last + 2)],
            "hash0": hash_kv(endpoint, 0),
            "leases": {lid: sorted(info.keys) for lid, info in ttls.items()},
        }
        assert seen == expected
        for lease in (short, long_):
            info = ttls[lease.id]
            assert info.granted_ttl == lease.ttl
            assert lease.ttl - 1 <= info.ttl <= lease.ttl  # whole again, as etcd restarts it
