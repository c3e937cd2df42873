"""Leases: grant rules, revoke, keep-alive stream, time-to-live, listing, expiry."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator

from etcd3py import _etcd_errors as E
from etcd3py._proto import kv_pb2, rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend, WatchStream, prefix_end
from tests.support.errors import raises_etcd

MIN_TTL = 2  # etcd's minimum with its default election timeout; server_ref's default


def time_to_live(
    backend: Backend, lease_id: int, keys: bool = False
) -> rpc_pb2.LeaseTimeToLiveResponse:
    req = rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id, keys=keys)
    return backend.lease.LeaseTimeToLive(req, timeout=RPC_TIMEOUT)


def revoke(backend: Backend, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
    req = rpc_pb2.LeaseRevokeRequest(ID=lease_id)
    return backend.lease.LeaseRevoke(req, timeout=RPC_TIMEOUT)


def lease_ids(backend: Backend) -> set[int]:
    resp = backend.lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=RPC_TIMEOUT)
    return {s.ID for s in resp.leases}


def test_grant(backend: Backend) -> None:
    resp = backend.grant(30)
    try:
        assert resp.ID > 0 and resp.TTL == 30 and resp.error == ""
        assert resp.header.revision == backend.revision()
        assert resp.ID in lease_ids(backend)
    finally:
        revoke(backend, resp.ID)


def test_ttl_below_the_minimum_is_raised(backend: Backend) -> None:
    for asked in (1, 0, -5):
        resp = backend.grant(asked)
        revoke(backend, resp.ID)
        assert resp.TTL == MIN_TTL


def test_ttl_above_the_maximum_is_refused(backend: Backend) -> None:
    raises_etcd(E.LEASE_TTL_TOO_LARGE, backend.grant, 9_000_000_001)
    resp = backend.grant(9_000_000_000)
    revoke(backend, resp.ID)
    assert resp.TTL == 9_000_000_000


def test_chosen_ids(backend: Backend, grant: Callable[..., int]) -> None:
    wanted = 0x5EED0000 + int(time.time()) % 0xFFFF
    assert grant(30, lease_id=wanted) == wanted
    raises_etcd(E.LEASE_EXIST, backend.grant, 30, wanted)
    negative = -wanted  # etcd takes any non-zero id
    assert grant(30, lease_id=negative) == negative


def test_revoke_deletes_the_keys_in_one_revision(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    lease = backend.grant(60).ID
    for name in (b"b", b"a", b"c"):
        backend.put(prefix + name, lease=lease)
    backend.put(prefix + b"free")
    watch.create(prefix, range_end=prefix_end(prefix))
    rev = revoke(backend, lease).header.revision
    resp = watch.next()
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in resp.events] == [
        (kv_pb2.Event.DELETE, prefix + name, rev) for name in (b"a", b"b", b"c")
    ]
    assert [kv.key for kv in backend.range(prefix, range_end=prefix_end(prefix)).kvs] == [
        prefix + b"free"
    ]
    assert lease not in lease_ids(backend)
    raises_etcd(E.LEASE_NOT_FOUND, revoke, backend, lease)


def test_time_to_live(backend: Backend, prefix: bytes, grant: Callable[..., int]) -> None:
    lease = grant(60)
    backend.put(prefix + b"b", lease=lease)
    backend.put(prefix + b"a", lease=lease)
    resp = time_to_live(backend, lease, keys=True)
    assert lease == resp.ID and resp.grantedTTL == 60
    assert 55 <= resp.TTL <= 60
    assert sorted(resp.keys) == [prefix + b"a", prefix + b"b"]
    assert list(time_to_live(backend, lease).keys) == []


def test_time_to_live_of_a_missing_lease(backend: Backend) -> None:
    resp = time_to_live(backend, 0x7E57)
    assert (resp.ID, resp.TTL) == (0x7E57, -1)


class KeepAlive:
    """A LeaseKeepAlive stream driven synchronously."""

    def __init__(self, backend: Backend) -> None:
        self._requests: queue.Queue[rpc_pb2.LeaseKeepAliveRequest | None] = queue.Queue()
        self._call = backend.lease.LeaseKeepAlive(self._iter())
        self._responses = iter(self._call)

    def _iter(self) -> Iterator[rpc_pb2.LeaseKeepAliveRequest]:
        while (req := self._requests.get()) is not None:
            yield req

    def renew(self, lease_id: int) -> rpc_pb2.LeaseKeepAliveResponse:
        self._requests.put(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
        return next(self._responses)

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()


def test_keep_alive_stream(backend: Backend, grant: Callable[..., int]) -> None:
    first, second = grant(30), grant(45)
    stream = KeepAlive(backend)
    try:
        a = stream.renew(first)
        assert (first, 30) == (a.ID, a.TTL)
        assert a.header.revision == backend.revision()
        b = stream.renew(second)
        assert (second, 45) == (b.ID, b.TTL)
        missing = stream.renew(0x7E57)  # a missing lease is answered with TTL 0
        assert (missing.ID, missing.TTL) == (0x7E57, 0)
        assert stream.renew(first).TTL == 30  # the stream goes on
    finally:
        stream.close()


def test_keep_alive_keeps_the_lease(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    lease = grant(MIN_TTL)
    backend.put(prefix + b"k", lease=lease)
    stream = KeepAlive(backend)
    try:
        deadline = time.monotonic() + 2 * MIN_TTL + 0.5
        while time.monotonic() < deadline:
            assert stream.renew(lease).TTL == MIN_TTL
            time.sleep(MIN_TTL / 4)  # the keep-alive cadence under test, not a synchronisation
    finally:
        stream.close()
    assert backend.range(prefix + b"k").count == 1
    assert lease in lease_ids(backend)


def test_expiry_deletes_the_keys(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    lease = backend.grant(MIN_TTL).ID
    backend.put(prefix + b"a", lease=lease)
    backend.put(prefix + b"b", lease=lease)
    watch.create(prefix, range_end=prefix_end(prefix))
    events = watch.events(2, timeout=MIN_TTL + 5)
    assert [(e.type, e.kv.key) for e in events] == [
        (kv_pb2.Event.DELETE, prefix + b"a"),
        (kv_pb2.Event.DELETE, prefix + b"b"),
    ]
    assert events[0].kv.mod_revision == events[1].kv.mod_revision
    assert backend.range(prefix, range_end=prefix_end(prefix)).count == 0
    assert time_to_live(backend, lease).TTL == -1
    raises_etcd(E.LEASE_NOT_FOUND, backend.put, prefix + b"c", lease=lease)
