"""server_ref's one write path: proposals are complete values, logged before they are
applied, and applied in log order -- with a log on disk, only once the log says they
are durable, and answered then."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2
from etcd3py.server_ref.auth.caller import AuthInfo
from etcd3py.server_ref.auth.request import InternalAuthenticate
from etcd3py.server_ref.embed.config import DEFAULTS
from etcd3py.server_ref.errors import ServerError
from etcd3py.server_ref.server import proposal
from etcd3py.server_ref.server.proposal import Proposal
from etcd3py.server_ref.server.server import EtcdServer
from etcd3py.server_ref.server.state import capture

pytestmark = pytest.mark.anyio

_R = rpc_pb2.RequestOp


class RecordingLog:
    """Keeps every entry as its log bytes. ``durable_at_once=False`` behaves as a WAL:
    the test then says when entries are durable, as an fsync would."""

    def __init__(self, durable_at_once: bool = True) -> None:
        self.entries: list[tuple[int, bytes]] = []
        self.durable_at_once = durable_at_once

    def append(self, index: int, p: Proposal, who: AuthInfo | None = None) -> bool:
        self.entries.append((index, proposal.encode(p, index, who)))
        return self.durable_at_once

    def proposals(self) -> list[Proposal]:
        return [proposal.decode(data)[1] for _, data in self.entries]


def new_server(log: RecordingLog | None = None, min_lease_ttl: int = 2) -> EtcdServer:
    config = dataclasses.replace(DEFAULTS, min_lease_ttl=min_lease_ttl).server_config()
    return EtcdServer(config, log)


def put(key: bytes, value: bytes = b"v", lease: int = 0) -> rpc_pb2.PutRequest:
    return rpc_pb2.PutRequest(key=key, value=value, lease=lease)


def test_in_memory_a_write_is_answered_at_once() -> None:
    server = new_server()
    index = server.raft_index
    resp = server.propose(put(b"k"))
    assert isinstance(resp, rpc_pb2.PutResponse)  # no awaitable: atomic on the event loop
    assert resp.header.revision == server.store.rev == 2
    assert (resp.header.member_id, resp.header.cluster_id) == (
        server.member.id,
        server.cluster_id,
    )
    assert server.raft_index == index + 1


def test_every_logged_proposal_takes_an_index_even_one_that_fails() -> None:
    log = RecordingLog()
    server = new_server(log)
    start = server.raft_index
    server.propose(put(b"k"))
    with pytest.raises(ServerError) as info:
        server.propose(put(b"k", lease=42))
    assert info.value.spec == E.LEASE_NOT_FOUND
    with pytest.raises(ServerError) as info:
        server.propose(put(b"k", b"x" * DEFAULTS.max_request_bytes))
    assert info.value.spec == E.REQUEST_TOO_LARGE  # refused before the log
    assert [index for index, _ in log.entries] == [start + 1, start + 2]
    assert server.raft_index == start + 2


def test_a_server_picked_lease_id_is_in_the_logged_proposal() -> None:
    log = RecordingLog()
    server = new_server(log)
    resp = server.lease_grant(rpc_pb2.LeaseGrantRequest(TTL=30))
    assert isinstance(resp, rpc_pb2.LeaseGrantResponse)
    [logged] = log.proposals()
    assert isinstance(logged, rpc_pb2.LeaseGrantRequest)
    assert logged.ID == resp.ID != 0


def test_replaying_the_log_rebuilds_the_same_state() -> None:
    log = RecordingLog()
    first = new_server(log)
    lease = first.lease_grant(rpc_pb2.LeaseGrantRequest(TTL=60))
    assert isinstance(lease, rpc_pb2.LeaseGrantResponse)
    first.propose(put(b"a", b"1"))
    first.propose(put(b"b", b"2", lease=lease.ID))
    first.txn(
        rpc_pb2.TxnRequest(
            compare=[rpc_pb2.Compare(key=b"a", target=rpc_pb2.Compare.VALUE, value=b"1")],
            success=[
                _R(request_put=put(b"c", b"3")),
                _R(request_delete_range=rpc_pb2.DeleteRangeRequest(key=b"a")),
            ],
        )
    )
    first.propose(rpc_pb2.CompactionRequest(revision=3))
    first.propose(rpc_pb2.LeaseRevokeRequest(ID=lease.ID))
    with pytest.raises(ServerError):
        first.propose(put(b"d", lease=lease.ID))  # logged, fails again on replay

    second = new_server()
    for index, data in log.entries:
        _, p, who = proposal.decode(data)
        second.replay(index, p, who)  # what failed fails again, quietly
    for server in (first, second):
        assert server.store.rev == 5
    assert second.raft_index == first.raft_index
    assert capture(second) == capture(first)  # records, leases, members, raft index
    assert second.store.compact_rev == first.store.compact_rev == 3
    assert second.lessor.ids() == first.lessor.ids() == []


def test_proposals_encode_as_etcds_internal_raft_request() -> None:
    p = rpc_pb2.TxnRequest(success=[_R(request_put=put(b"k" * 300))])
    data = proposal.encode(p, request_id=0x2BCDEF0123456789)
    assert data[0] == (6 << 3 | 2)  # InternalRaftRequest.txn
    assert proposal.decode(data) == (0x2BCDEF0123456789, p, None)
    # the size etcd checks against max-request-bytes, with a 9-byte id like etcd's
    assert proposal.size(p) == len(data)


def test_an_auth_proposal_carries_its_user_in_the_header() -> None:
    """Fields in number order as Go's: 1012 (authenticate) comes after the header (100);
    the header holds the user (2) and auth revision (3) the applier checks."""
    who = AuthInfo("alice", 7)
    p = rpc_pb2.AuthRoleAddRequest(name="app")
    data = proposal.encode(p, 0x2BCDEF0123456789, who)
    assert data[:2] == bytes([0xA2, 0x06])  # field 100, length-delimited
    assert proposal.decode(data) == (0x2BCDEF0123456789, p, who)
    assert proposal.size(p, who) == len(data)
    auth = InternalAuthenticate("bob", "abcdefghijklmnop")
    assert proposal.decode(proposal.encode(auth, 5)) == (5, auth, None)


def test_a_log_entry_with_two_proposals_is_refused() -> None:
    data = proposal.encode(put(b"a"), 1) + proposal.encode(put(b"b"), 1)
    with pytest.raises(ValueError, match="unexpected field"):
        proposal.decode(data)


async def test_a_log_on_disk_applies_and_answers_only_what_is_durable() -> None:
    log = RecordingLog(durable_at_once=False)
    server = new_server(log)
    first = server.propose(put(b"k", b"1"))
    failing = server.propose(put(b"k", lease=42))
    second = server.propose(put(b"k", b"2"))
    # logged, but neither applied nor answered: no read can see them yet
    assert [i for i, _ in log.entries] == [server.raft_index - 2 + n for n in range(3)]
    assert server.store.rev == 1
    answers = asyncio.gather(first, failing, second, return_exceptions=True)
    await asyncio.sleep(0)
    assert not answers.done()
    server.durable(up_to=server.raft_index - 1)  # the first two reached the disk
    assert server.store.rev == 2
    server.durable(up_to=server.raft_index)
    got = await asyncio.wait_for(answers, 5)
    assert [r.header.revision for r in (got[0], got[2])] == [2, 3]
    assert isinstance(got[1], ServerError) and got[1].spec == E.LEASE_NOT_FOUND


async def test_entries_the_log_could_not_write_are_refused_and_their_indexes_reused() -> None:
    log = RecordingLog(durable_at_once=False)
    server = new_server(log)
    start = server.raft_index
    kept = server.propose(put(b"k", b"1"))
    server.durable(up_to=start + 1)
    lost = server.propose(put(b"k", b"2"))
    server.log_failed("the disk is full")
    with pytest.raises(ServerError, match="the disk is full"):
        await lost
    assert (await kept).header.revision == 2
    assert server.store.rev == 2 and server.raft_index == start + 1


async def test_an_expired_lease_is_revoked_by_a_proposal() -> None:
    revoked = asyncio.Event()

    class WatchingLog(RecordingLog):
        def append(self, index: int, p: Proposal, who: AuthInfo | None = None) -> bool:
            if isinstance(p, rpc_pb2.LeaseRevokeRequest):
                revoked.set()
            return super().append(index, p, who)

    log = WatchingLog()
    server = new_server(log, min_lease_ttl=1)
    server.start()
    try:
        lease = server.lease_grant(rpc_pb2.LeaseGrantRequest(TTL=1))
        assert isinstance(lease, rpc_pb2.LeaseGrantResponse)
        server.propose(put(b"k", lease=lease.ID))
        await asyncio.wait_for(revoked.wait(), 10)
    finally:
        await server.stop()
    assert log.proposals()[-1] == rpc_pb2.LeaseRevokeRequest(ID=lease.ID)
    assert server.lessor.ids() == []
    assert server.store.range(b"k", b"").kvs == []
