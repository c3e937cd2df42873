"""The modelled db size (storage/backend_size.py) and the space quota (server/quota.py),
on a server without gRPC. Their agreement with etcd 3.5.1 is in
tests/conformance/test_quota.py and benchmarks/db_size_calibration.py."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2
from etcd3py.server_ref.api.checks import CheckedKV
from etcd3py.server_ref.embed.config import DEFAULTS
from etcd3py.server_ref.errors import ServerError
from etcd3py.server_ref.server.quota import DEFAULT_QUOTA_BYTES
from etcd3py.server_ref.server.server import EtcdServer
from etcd3py.server_ref.storage import backend_size as bs
from etcd3py.server_ref.storage.etcd_db import KeyRecord, Lease, encode_lease, encode_record
from tests.unit.test_write_path import RecordingLog

pytestmark = pytest.mark.anyio

PAGE = bs.PAGE_SIZE


def new_server(quota_bytes: int = 0, log: RecordingLog | None = None) -> EtcdServer:
    config = dataclasses.replace(DEFAULTS, quota_backend_bytes=quota_bytes).server_config()
    return EtcdServer(config, log)


@pytest.mark.parametrize(
    "record",
    [
        KeyRecord(b"k", 2, 0, 2, 1, b"v"),
        KeyRecord(b"key/000001", 300, 5, 120, 3, b"x" * 1000, lease=0x7FFF_FFFF_FFFF_FFFF),
        KeyRecord(b"k" * 200, 1 << 40, 0, 1 << 35, 1 << 20, b"x" * 200_000),
        KeyRecord(b"k", 9, 0, 0, 0, b"", tombstone=True),
        KeyRecord(b"k" * 300, 9, 1, tombstone=True),
    ],
)
def test_record_costs_measure_the_records_etcd_writes(record: KeyRecord) -> None:
    key, value = encode_record(record)
    element = bs.element_cost(16 + len(key) + len(value))
    if record.tombstone:
        assert bs.tombstone_cost(record.key) == element
    else:
        cost = bs.key_record_cost(
            record.key, record.value, record.create_revision, record.main, record.version,
            record.lease,
        )  # fmt: skip
        assert cost == element


def test_lease_costs_measure_the_records_etcd_writes() -> None:
    lease = Lease(0x694D_7A3B_5F2E_1C0D, 60)
    assert bs.lease_record_cost(lease.id, lease.ttl) == bs.element_cost(
        16 + 8 + len(encode_lease(lease))
    )


@pytest.mark.parametrize(
    ("element", "cost"),
    [
        (65, -(-PAGE // 56)),  # 56 small elements fill 90% of a page
        (1056, -(-PAGE // 3)),  # three per page
        (2000, PAGE // 2),  # at least two per node: two fit one page
        (2100, PAGE),  # two need two pages
        (100_056, 49 * PAGE // 2),  # two per node, 49 pages
    ],
)
def test_elements_take_their_share_of_bbolts_pages(element: int, cost: int) -> None:
    assert bs.element_cost(element) == cost


def put(server: EtcdServer, key: bytes, value: bytes) -> None:
    server.propose(rpc_pb2.PutRequest(key=key, value=value))


def test_sizes_grow_with_history_and_only_defragment_shrinks_the_file() -> None:
    server = new_server()
    size = server.backend
    assert (size.size, size.size_in_use) == (bs.FRESH_SIZE, bs.FRESH_IN_USE)  # etcd's, probed
    for _ in range(4):
        for i in range(10):
            put(server, b"key/%d" % i, b"x" * 10_000)
    written = (size.size, size.size_in_use)
    assert written[0] == written[1] >= 40 * 10_000
    server.propose(rpc_pb2.CompactionRequest(revision=server.store.rev))
    assert size.size == written[0]  # pages freed, not the file
    assert 10 * 10_000 <= size.size_in_use < written[1] / 3
    put(server, b"key/0", b"x" * 10_000)  # reuses freed pages
    assert size.size == written[0]
    size.defragment()
    assert size.size == size.size_in_use + PAGE
    assert size.size < written[0] / 3


def test_leases_take_space_until_revoked() -> None:
    server = new_server()
    before = server.backend.size_in_use
    for lease_id in range(1, 201):
        server.lease_grant(rpc_pb2.LeaseGrantRequest(ID=lease_id, TTL=60))
    assert server.backend.size_in_use > before
    for lease_id in range(1, 201):
        server.propose(rpc_pb2.LeaseRevokeRequest(ID=lease_id))
    assert server.backend.size_in_use == before


def test_quota_of_zero_is_etcds_default_and_negative_is_none() -> None:
    assert new_server(0).quota.limit == DEFAULT_QUOTA_BYTES == 2 * 1024**3
    unlimited = new_server(-1)
    kv = CheckedKV(unlimited)
    for i in range(30):
        kv.put(rpc_pb2.PutRequest(key=b"k%d" % i, value=b"x" * 1_000_000))
    assert unlimited.backend.size > 30_000_000 and not unlimited.alarms.active


def test_a_refusal_proposes_the_alarm_and_not_the_request() -> None:
    server = new_server(100_000)
    kv = CheckedKV(server)
    kv.put(rpc_pb2.PutRequest(key=b"a", value=b"x" * 45_000))
    index = server.raft_index
    with pytest.raises(ServerError) as info:
        kv.put(rpc_pb2.PutRequest(key=b"b", value=b"x" * 45_000))
    assert info.value.spec == E.NO_SPACE
    assert server.raft_index == index + 1  # the alarm's entry
    assert server.alarms.active == [(server.member.id, rpc_pb2.NOSPACE)]
    assert server.store.range(b"b", b"").count == 0


async def test_with_a_log_on_disk_the_refusal_comes_once_the_alarm_is_applied() -> None:
    log = RecordingLog(durable_at_once=False)
    server = new_server(16 * 1024, log)  # below a fresh member's size
    refusal = server.lease_grant(rpc_pb2.LeaseGrantRequest(TTL=60))
    assert not isinstance(refusal, rpc_pb2.LeaseGrantResponse)
    refused = asyncio.ensure_future(refusal)
    await asyncio.sleep(0)
    assert not refused.done() and server.alarms.active == []  # the alarm is not durable yet
    server.durable(up_to=server.raft_index)
    with pytest.raises(ServerError) as info:
        await refused
    assert info.value.spec == E.NO_SPACE
    assert server.alarms.active == [(server.member.id, rpc_pb2.NOSPACE)]
