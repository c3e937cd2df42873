"""Range: every option of RangeRequest, the same assertions on server_ref and etcd."""

from __future__ import annotations

import pytest

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2
from tests.support.backends import Backend, prefix_end
from tests.support.errors import raises_etcd

RR = rpc_pb2.RangeRequest


def keys(resp: rpc_pb2.RangeResponse) -> list[bytes]:
    return [kv.key for kv in resp.kvs]


def test_single_key_carries_all_fields(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    first = backend.put(k, b"v1").header.revision
    second = backend.put(k, b"v2").header.revision
    assert second == first + 1
    resp = backend.range(k)
    assert resp.count == 1 and not resp.more
    kv = resp.kvs[0]
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == (
        k,
        b"v2",
        first,
        second,
        2,
        0,
    )
    assert resp.header.revision >= second


def test_missing_key_is_an_empty_result(backend: Backend, prefix: bytes) -> None:
    resp = backend.range(prefix + b"nothing")
    assert list(resp.kvs) == [] and resp.count == 0 and not resp.more


def test_range_end_is_half_open(backend: Backend, prefix: bytes) -> None:
    for name in (b"a", b"b", b"c"):
        backend.put(prefix + name, name)
    resp = backend.range(prefix + b"a", range_end=prefix + b"c")
    assert keys(resp) == [prefix + b"a", prefix + b"b"]
    assert resp.count == 2


def test_range_end_not_after_key_selects_nothing(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"b")
    assert backend.range(prefix + b"b", range_end=prefix + b"a").count == 0
    assert backend.range(prefix + b"b", range_end=prefix + b"b").count == 0


def test_prefix_range(backend: Backend, prefix: bytes) -> None:
    for name in (b"dir/x", b"dir/y/z", b"dir0", b"di"):
        backend.put(prefix + name)
    p = prefix + b"dir/"
    assert keys(backend.range(p, range_end=prefix_end(p))) == [p + b"x", p + b"y/z"]


def test_from_key_range(backend: Backend, prefix: bytes) -> None:
    for name in (b"a", b"b", b"c"):
        backend.put(prefix + name)
    resp = backend.range(prefix + b"b", range_end=b"\x00", limit=2)
    # every key >= prefix/b: ours come first; later tests' keys may follow
    assert keys(resp) == [prefix + b"b", prefix + b"c"]
    assert resp.count >= 2


def test_limit_more_and_count(backend: Backend, prefix: bytes) -> None:
    for i in range(5):
        backend.put(prefix + b"%d" % i)
    end = prefix_end(prefix)
    two = backend.range(prefix, range_end=end, limit=2)
    assert keys(two) == [prefix + b"0", prefix + b"1"]
    assert two.more and two.count == 5
    five = backend.range(prefix, range_end=end, limit=5)
    assert len(five.kvs) == 5 and not five.more and five.count == 5
    unlimited = backend.range(prefix, range_end=end, limit=0)
    assert len(unlimited.kvs) == 5 and not unlimited.more
    # a negative limit means no limit, as in etcd
    assert len(backend.range(prefix, range_end=end, limit=-1).kvs) == 5


def test_read_at_past_revisions(backend: Backend, prefix: bytes) -> None:
    k = prefix + b"k"
    r1 = backend.put(k, b"one").header.revision
    r2 = backend.put(k, b"two").header.revision
    r3 = backend.delete(k).header.revision
    assert r3 == r2 + 1
    at1 = backend.range(k, revision=r1)
    assert [kv.value for kv in at1.kvs] == [b"one"]
    assert at1.header.revision >= r3  # the header carries the current revision
    assert [kv.value for kv in backend.range(k, revision=r2).kvs] == [b"two"]
    assert backend.range(k, revision=r3).count == 0
    assert backend.range(k, revision=r1 - 1).count == 0


def test_past_revision_of_a_range(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"a")
    rev = backend.put(prefix + b"b").header.revision
    backend.delete(prefix + b"a")
    backend.put(prefix + b"c")
    resp = backend.range(prefix, range_end=prefix_end(prefix), revision=rev)
    assert keys(resp) == [prefix + b"a", prefix + b"b"] and resp.count == 2


def test_future_revision_is_refused(backend: Backend, prefix: bytes) -> None:
    current = backend.revision()
    raises_etcd(E.FUTURE_REV, backend.range, prefix + b"k", revision=current + 1000)


def test_negative_revision_reads_the_current_one(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"k", b"now")
    assert [kv.value for kv in backend.range(prefix + b"k", revision=-5).kvs] == [b"now"]


@pytest.fixture
def sortable(backend: Backend, prefix: bytes) -> bytes:
    """Keys a, b, c with distinct create, mod, version and value orders."""
    backend.put(prefix + b"c", b"x")  # created first
    backend.put(prefix + b"a", b"y")
    backend.put(prefix + b"b", b"z")
    backend.put(prefix + b"a", b"y")  # a: version 3, modified last but one
    backend.put(prefix + b"a", b"y")
    backend.put(prefix + b"c", b"x")  # c: version 2, modified last
    return prefix


@pytest.mark.parametrize(
    ("target", "ascending"),
    [
        (RR.KEY, [b"a", b"b", b"c"]),
        (RR.VERSION, [b"b", b"c", b"a"]),
        (RR.CREATE, [b"c", b"a", b"b"]),
        (RR.MOD, [b"b", b"a", b"c"]),
        (RR.VALUE, [b"c", b"a", b"b"]),
    ],
)
def test_sort_by_every_target(
    backend: Backend, sortable: bytes, target: int, ascending: list[bytes]
) -> None:
    p = sortable
    end = prefix_end(p)
    asc = backend.range(p, range_end=end, sort_target=target, sort_order=RR.ASCEND)
    assert keys(asc) == [p + k for k in ascending]
    desc = backend.range(p, range_end=end, sort_target=target, sort_order=RR.DESCEND)
    assert keys(desc) == [p + k for k in reversed(ascending)]
    # a target without an order sorts ascending (etcd's rule for non-key targets)
    plain = backend.range(p, range_end=end, sort_target=target)
    assert keys(plain) == [p + k for k in ascending]


def test_sort_happens_before_the_limit(backend: Backend, sortable: bytes) -> None:
    p = sortable
    resp = backend.range(
        p, range_end=prefix_end(p), sort_target=RR.VALUE, sort_order=RR.DESCEND, limit=1
    )
    assert keys(resp) == [p + b"b"] and resp.more and resp.count == 3


def test_serializable_read(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"k", b"v")
    resp = backend.range(prefix + b"k", serializable=True)
    assert [kv.value for kv in resp.kvs] == [b"v"]


def test_keys_only(backend: Backend, prefix: bytes) -> None:
    rev = backend.put(prefix + b"k", b"value").header.revision
    kv = backend.range(prefix + b"k", keys_only=True).kvs[0]
    assert (kv.key, kv.value, kv.mod_revision, kv.version) == (prefix + b"k", b"", rev, 1)


def test_count_only(backend: Backend, prefix: bytes) -> None:
    for i in range(3):
        backend.put(prefix + b"%d" % i)
    resp = backend.range(prefix, range_end=prefix_end(prefix), count_only=True, limit=1)
    assert list(resp.kvs) == [] and resp.count == 3 and not resp.more


def test_mod_and_create_revision_filters(backend: Backend, prefix: bytes) -> None:
    ra = backend.put(prefix + b"a").header.revision
    rb = backend.put(prefix + b"b").header.revision
    rc = backend.put(prefix + b"c").header.revision
    ra2 = backend.put(prefix + b"a").header.revision  # a: created ra, modified ra2
    p, end = prefix, prefix_end(prefix)

    def ks(**kw: int) -> list[bytes]:
        return [k[len(p) :] for k in keys(backend.range(p, range_end=end, **kw))]

    assert ks(min_mod_revision=rc) == [b"a", b"c"]
    assert ks(max_mod_revision=rb) == [b"b"]
    assert ks(min_create_revision=rb) == [b"b", b"c"]
    assert ks(max_create_revision=rb) == [b"a", b"b"]
    assert ks(min_mod_revision=rb, max_mod_revision=rc) == [b"b", b"c"]
    assert ks(min_create_revision=ra, max_create_revision=ra, min_mod_revision=ra2) == [b"a"]
    # etcd reports the count of the whole range, before these filters
    assert backend.range(p, range_end=end, min_mod_revision=rc).count == 3


def test_filters_apply_before_the_limit(backend: Backend, prefix: bytes) -> None:
    backend.put(prefix + b"a")
    rb = backend.put(prefix + b"b").header.revision
    backend.put(prefix + b"c")
    resp = backend.range(prefix, range_end=prefix_end(prefix), min_mod_revision=rb, limit=1)
    assert keys(resp) == [prefix + b"b"] and resp.more


def test_empty_key_is_refused(backend: Backend) -> None:
    raises_etcd(E.EMPTY_KEY, backend.range, b"")
    raises_etcd(E.EMPTY_KEY, backend.range, b"", range_end=b"\x00")
