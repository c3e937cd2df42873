"""Cluster and maintenance calls through the client."""

from __future__ import annotations

import io

import pytest

from etcd3py import Alarm, AlarmType, AsyncClient, Member, NoSpaceError, Status
from etcd3py._proto import rpc_pb2
from etcd3py.errors import BadLeaderTransfereeError
from etcd3py.server_ref.storage.etcd_db import read_db
from etcd3py.server_ref.storage.snapshot import verify_snapshot
from tests.support.backends import RPC_TIMEOUT, Backend

pytestmark = pytest.mark.anyio


async def test_status_and_members(aclient: AsyncClient, backend: Backend) -> None:
    status = await aclient.status()
    assert isinstance(status, Status)
    assert status.version == "3.5.1" and status.leader == status.member_id != 0
    assert status.raft_term >= 1 and status.db_size > 0 and not status.is_learner
    same = await aclient.status(backend.endpoint)
    assert same.member_id == status.member_id
    (member,) = await aclient.member_list()
    assert isinstance(member, Member)
    assert member.id == status.member_id and member.name == "default"
    assert f"http://{backend.endpoint}" in member.client_urls and not member.is_learner


async def test_alarms(aclient: AsyncClient, backend: Backend, prefix: bytes) -> None:
    assert await aclient.alarms() == []
    me = (await aclient.status()).member_id
    raise_alarm = rpc_pb2.AlarmRequest(
        action=rpc_pb2.AlarmRequest.ACTIVATE, memberID=me, alarm=rpc_pb2.NOSPACE
    )
    backend.maintenance.Alarm(raise_alarm, timeout=RPC_TIMEOUT)  # no client API raises alarms
    try:
        assert await aclient.alarms() == [Alarm(me, AlarmType.NOSPACE)]
        with pytest.raises(NoSpaceError):
            await aclient.put(prefix + b"k", "v")
    finally:
        cleared = await aclient.disarm(AlarmType.NOSPACE)
    assert cleared == [Alarm(me, AlarmType.NOSPACE)]
    assert await aclient.alarms() == []
    await aclient.put(prefix + b"k", "v")


async def test_hash_kv_and_defragment(aclient: AsyncClient, prefix: bytes) -> None:
    rev = (await aclient.put(prefix + b"k", "1")).header.revision
    before = await aclient.hash_kv(rev)
    await aclient.put(prefix + b"k", "2")
    assert await aclient.hash_kv(rev) == before
    assert await aclient.hash_kv() != before
    await aclient.defragment()


async def test_snapshot(aclient: AsyncClient, prefix: bytes) -> None:
    await aclient.put(prefix + b"k", "in the snapshot")
    buffer = io.BytesIO()
    written = await aclient.snapshot(buffer)
    data = buffer.getvalue()
    assert written == len(data)
    db = verify_snapshot(data)  # etcd's db file, then its SHA-256, as etcdctl saves it
    records = [r for r in read_db(db).records if r.key == prefix + b"k"]
    assert [r.value for r in records] == [b"in the snapshot"]


async def test_move_leader(aclient: AsyncClient) -> None:
    me = (await aclient.status()).member_id
    await aclient.move_leader(me)  # a single member leads already
    with pytest.raises(BadLeaderTransfereeError):
        await aclient.move_leader(0x7E57)


async def test_sync_endpoints(aclient: AsyncClient, backend: Backend) -> None:
    # the member list names this very endpoint: the connection is kept as it was
    assert await aclient.sync_endpoints() == [backend.endpoint]
    assert (await aclient.status()).version == "3.5.1"
