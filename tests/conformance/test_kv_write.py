"""Put, DeleteRange and Compact, on server_ref and etcd alike."""

from __future__ import annotations

from collections.abc import Callable

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend, prefix_end
from tests.support.errors import raises_etcd


def test_put_returns_new_revision_and_prev_kv(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    first = backend.put(k, b"one", prev_kv=True)
    assert not first.HasField("prev_kv")
    second = backend.put(k, b"two", prev_kv=True)
    assert second.header.revision == first.header.revision + 1
    prev = second.prev_kv
    assert (prev.key, prev.value, prev.mod_revision, prev.version) == (
        k,
        b"one",
        first.header.revision,
        1,
    )


def test_recreated_key_starts_a_new_generation(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    backend.put(k, b"1")
    backend.put(k, b"2")
    backend.delete(k)
    rev = backend.put(k, b"3").header.revision
    kv = backend.range(k).kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (rev, rev, 1)


def test_put_with_lease(backend: Backend, prefix: bytes, grant: Callable[..., int]) -> None:
    lease = grant(60)
    backend.put(prefix + b"k", b"v", lease=lease)
    assert backend.range(prefix + b"k").kvs[0].lease == lease


def test_put_with_missing_lease_is_refused(backend: Backend, prefix: bytes) -> None:
    raises_etcd(E.LEASE_NOT_FOUND, backend.put, prefix + b"k", b"v", lease=0x7E57)
    assert backend.range(prefix + b"k").count == 0


def test_ignore_value_keeps_the_value(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    k = prefix + b"k"
    backend.put(k, b"keep")
    lease = grant(60)
    backend.put(k, ignore_value=True, lease=lease)
    kv = backend.range(k).kvs[0]
    assert (kv.value, kv.version, kv.lease) == (b"keep", 2, lease)


def test_ignore_lease_keeps_the_lease(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    k = prefix + b"k"
    lease = grant(60)
    backend.put(k, b"one", lease=lease)
    backend.put(k, b"two", ignore_lease=True)
    kv = backend.range(k).kvs[0]
    assert (kv.value, kv.lease) == (b"two", lease)


def test_put_without_lease_detaches_the_old_one(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    k = prefix + b"k"
    lease = grant(60)
    backend.put(k, b"one", lease=lease)
    backend.put(k, b"two")
    ttl = backend.lease.LeaseTimeToLive(
        rpc_pb2.LeaseTimeToLiveRequest(ID=lease, keys=True), timeout=RPC_TIMEOUT
    )
    assert list(ttl.keys) == []
    backend.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease), timeout=RPC_TIMEOUT)
    assert backend.range(k).kvs[0].value == b"two"  # no longer the lease's to delete


def test_put_flag_errors(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    raises_etcd(E.KEY_NOT_FOUND, backend.put, k, ignore_value=True)
    raises_etcd(E.KEY_NOT_FOUND, backend.put, k, b"v", ignore_lease=True)
    backend.put(k, b"v")
    raises_etcd(E.VALUE_PROVIDED, backend.put, k, b"x", ignore_value=True)
    raises_etcd(E.LEASE_PROVIDED, backend.put, k, b"x", ignore_lease=True, lease=5)
    raises_etcd(E.EMPTY_KEY, backend.put, b"", b"v")
    assert backend.range(k).kvs[0].version == 1  # none of the refused puts landed


def test_empty_value_is_a_value(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"k", b"")
    resp = backend.range(prefix + b"k")
    assert resp.count == 1 and resp.kvs[0].value == b""


def test_binary_keys_and_values(backend: Backend, prefix: bytes) -> None:
    k = prefix + bytes(range(256))
    v = bytes(range(255, -1, -1)) * 4
    backend.put(k, v)
    assert backend.range(k).kvs[0].value == v


def test_delete_single_key(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    backend.put(k, b"v")
    resp = backend.delete(k, prev_kv=True)
    assert resp.deleted == 1
    assert [(kv.key, kv.value) for kv in resp.prev_kvs] == [(k, b"v")]
    assert backend.range(k).count == 0


def test_delete_of_nothing_keeps_the_revision(backend: Backend, prefix: bytes) -> None:
    before = backend.put(prefix + b"x").header.revision
    resp = backend.delete(prefix + b"missing")
    assert resp.deleted == 0 and resp.header.revision == before


def test_delete_range_and_prefix(backend: Backend, prefix: bytes) -> None:
    for name in (b"a", b"b", b"c", b"d/1", b"d/2"):
        backend.put(prefix + name, name)
    ranged = backend.delete(prefix + b"a", range_end=prefix + b"c", prev_kv=True)
    assert ranged.deleted == 2
    assert [kv.value for kv in ranged.prev_kvs] == [b"a", b"b"]
    d = prefix + b"d/"
    assert backend.delete(d, range_end=prefix_end(d)).deleted == 2
    remaining = backend.range(prefix, range_end=prefix_end(prefix))
    assert [kv.key for kv in remaining.kvs] == [prefix + b"c"]


def test_one_delete_is_one_revision(backend: Backend, prefix: bytes) -> None:
    for name in (b"a", b"b", b"c"):
        backend.put(prefix + name)
    before = backend.revision()
    resp = backend.delete(prefix, range_end=prefix_end(prefix))
    assert resp.deleted == 3 and resp.header.revision == before + 1


def test_delete_from_key(backend: Backend, prefix: bytes) -> None:
    for name in (b"a", b"b", b"c"):
        backend.put(prefix + name)
    resp = backend.delete(prefix + b"b", range_end=b"\x00")
    assert resp.deleted >= 2  # keys of earlier tests beyond ours may go too
    assert [kv.key for kv in backend.range(prefix, range_end=prefix_end(prefix)).kvs] == [
        prefix + b"a"
    ]


def test_delete_empty_key_is_refused(backend: Backend) -> None:
    raises_etcd(E.EMPTY_KEY, backend.delete, b"")


def compact(backend: Backend, revision: int, physical: bool = False) -> rpc_pb2.CompactionResponse:
    req = rpc_pb2.CompactionRequest(revision=revision, physical=physical)
    return backend.kv.Compact(req, timeout=RPC_TIMEOUT)


def test_compaction(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    r1 = backend.put(k, b"1").header.revision
    r2 = backend.put(k, b"2").header.revision
    r3 = backend.put(k, b"3").header.revision
    resp = compact(backend, r2, physical=True)
    assert resp.header.revision == r3
    raises_etcd(E.COMPACTED, backend.range, k, revision=r1)
    # the compaction revision itself stays readable
    assert [kv.value for kv in backend.range(k, revision=r2).kvs] == [b"2"]
    assert [kv.value for kv in backend.range(k).kvs] == [b"3"]
    raises_etcd(E.COMPACTED, compact, backend, r2)
    raises_etcd(E.COMPACTED, compact, backend, r1)
    raises_etcd(E.FUTURE_REV, compact, backend, r3 + 1000)


def test_compaction_keeps_the_live_version_of_every_key(backend: Backend, prefix: bytes) -> None:
    old = backend.put(prefix + b"old", b"kept").header.revision
    backend.put(prefix + b"gone", b"x")
    backend.delete(prefix + b"gone")
    now = backend.put(prefix + b"new", b"n").header.revision
    compact(backend, now)
    kvs = backend.range(prefix, range_end=prefix_end(prefix)).kvs
    assert [(kv.key, kv.mod_revision) for kv in kvs] == [
        (prefix + b"new", now),
        (prefix + b"old", old),
    ]
    at = backend.range(prefix, range_end=prefix_end(prefix), revision=now)
    assert at.count == 2
