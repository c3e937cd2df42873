"""The bbolt writer and reader: round trips, bbolt's own check (``etcdutl snapshot
status``), freelist variants, and corrupt or truncated files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd3py.server_ref.storage import bbolt
from etcd3py.server_ref.storage.bbolt import (
    BoltFormatError,
    Bucket,
    read_bbolt,
    write_bbolt,
)
from etcd3py.server_ref.storage.snapshot import snapshot_bytes
from tests.storage.tools import etcdutl_status, status_of

keys = st.binary(min_size=1, max_size=40)
# large values (overflow pages) are runs of one byte: cheap to generate
large = st.builds(
    lambda size, byte: bytes([byte]) * size, st.integers(1000, 9000), st.integers(0, 255)
)
values = st.one_of(st.binary(max_size=64), large)


def buckets(depth: int) -> st.SearchStrategy[Bucket]:
    """Buckets of plain values and, down to ``depth``, nested buckets."""
    children: st.SearchStrategy[bytes | Bucket] = values
    if depth:
        children = st.one_of(values, values, buckets(depth - 1))
    return st.builds(
        lambda entries, seq: Bucket(dict(sorted(entries.items())), seq),
        st.dictionaries(keys, children, max_size=30),
        st.integers(0, 2**64 - 1),
    )


roots = st.builds(
    lambda entries, seq: Bucket(dict(sorted(entries.items())), seq),
    st.dictionaries(keys, buckets(2), max_size=6),
    st.integers(0, 2**64 - 1),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(root=roots, page_size=st.sampled_from([1024, 4096]))
def test_round_trip(root: Bucket, page_size: int) -> None:
    data = write_bbolt(root, page_size=page_size)
    assert len(data) % page_size == 0
    parsed = read_bbolt(data)
    assert parsed.root == root
    assert parsed.page_size == page_size
    assert parsed.free_pages == ()
    assert parsed.high_water * page_size == len(data)


def big_root() -> Bucket:
    """Many keys (a three-level tree at 1 KiB pages), overflowing values, nested buckets."""
    many = Bucket({b"%08d" % i: b"v%d" % i for i in range(20000)}, sequence=7)
    large = Bucket({b"big%d" % i: bytes([i]) * (5000 * i + 1) for i in range(1, 5)})
    nested = Bucket({b"inline": Bucket({b"a": b"1"}), b"deep": many, b"plain": b"x"})
    return Bucket({b"many": many, b"large": large, b"nested": nested, b"empty": Bucket()})


def tree_depth(data: bytes, page_id: int, page_size: int) -> int:
    """Levels from page ``page_id`` down to the leaves (following first children)."""
    _, flags, _, _ = bbolt.PAGE_HEADER.unpack_from(data, page_id * page_size)
    if flags & bbolt.LEAF_PAGE:
        return 1
    element = page_id * page_size + bbolt.PAGE_HEADER.size
    _, _, child = bbolt.BRANCH_ELEMENT.unpack_from(data, element)
    return 1 + tree_depth(data, child, page_size)


def test_many_keys_and_large_values_round_trip() -> None:
    root = big_root()
    data = write_bbolt(root, page_size=1024)
    parsed = read_bbolt(data)
    assert parsed.root == root
    many = write_bbolt(Bucket({b"many": root.entries[b"many"]}), page_size=1024)
    bucket_value = read_leaf_value(many, page_size=1024)
    root_page, _ = bbolt.BUCKET_HEADER.unpack(bucket_value)
    assert tree_depth(many, root_page, 1024) == 3


def read_leaf_value(data: bytes, page_size: int) -> bytes:
    """The value of the first element of the root bucket's page (a root with one leaf)."""
    root_page = bbolt.META.unpack_from(data, bbolt.PAGE_HEADER.size)[4]
    element = root_page * page_size + bbolt.PAGE_HEADER.size
    _, pos, ksize, vsize = bbolt.LEAF_ELEMENT.unpack_from(data, element)
    return data[element + pos + ksize : element + pos + ksize + vsize]


@pytest.mark.parametrize("page_size", [1024, 4096])
def test_bbolt_checks_written_file(tmp_path: Path, page_size: int) -> None:
    """bbolt's consistency check passes: every page reachable once, nothing out of bounds."""
    root = big_root()
    data = write_bbolt(root, page_size=page_size)
    path = tmp_path / "db"
    path.write_bytes(snapshot_bytes(data))
    status = etcdutl_status(path)
    assert (status["hash"], status["totalKey"]) == status_of(root)
    assert status["totalSize"] == len(data)


def with_free_pages(data: bytes, count: int) -> tuple[bytes, list[int]]:
    """``data`` grown by ``count`` free pages and a freelist page (or pages) listing them
    with the old freelist page, through a new meta: bbolt's synced-freelist layout."""
    page_size = read_bbolt(data).page_size
    old_pages = len(data) // page_size
    free = [2, *range(old_pages, old_pages + count)]
    body = struct.pack(f"<{len(free)}Q", *free)
    listed = len(free)
    if listed >= 0xFFFF:  # the count goes in the first slot
        body = struct.pack("<Q", listed) + body
        listed = 0xFFFF
    freelist_id = old_pages + count
    span = -(-(bbolt.PAGE_HEADER.size + len(body)) // page_size)
    header = bbolt.PAGE_HEADER.pack(freelist_id, bbolt.FREELIST_PAGE, listed, span - 1)
    freelist = (header + body).ljust(span * page_size, b"\0")
    high_water = freelist_id + span
    metas = b""
    for page_id in (0, 1):
        fields = list(bbolt.META.unpack_from(data, page_id * page_size + bbolt.PAGE_HEADER.size))
        fields[6], fields[7] = freelist_id, high_water
        fields[9] = bbolt.fnv64a(bbolt.META.pack(*fields)[: bbolt.META_SUMMED])
        page = bbolt.PAGE_HEADER.pack(page_id, bbolt.META_PAGE, 0, 0) + bbolt.META.pack(*fields)
        metas += page.ljust(page_size, b"\0")
    grown = metas + data[2 * page_size :] + bytes(count * page_size) + freelist
    return grown, free


def test_synced_freelist_is_read_and_checked(tmp_path: Path) -> None:
    root = big_root()
    data, free = with_free_pages(write_bbolt(root), 3)
    parsed = read_bbolt(data)
    assert parsed.root == root
    assert parsed.free_pages == tuple(free)
    path = tmp_path / "db"
    path.write_bytes(snapshot_bytes(data))
    assert etcdutl_status(path)["totalKey"] == status_of(root)[1]


def test_freelist_with_count_in_first_slot() -> None:
    """A freelist of 0xFFFF ids or more keeps its count in the first id slot."""
    root = Bucket({b"b": Bucket({b"k": b"v"})})
    data, free = with_free_pages(write_bbolt(root, page_size=1024), 0x10000)
    parsed = read_bbolt(data)
    assert parsed.free_pages == tuple(free)
    assert parsed.root == root


def test_older_meta_is_used_when_the_newer_is_corrupt() -> None:
    root = Bucket({b"b": Bucket({b"k": b"v"})})
    data = bytearray(write_bbolt(root, txid=5))
    assert read_bbolt(bytes(data)).txid == 5
    data[bbolt.PAGE_HEADER.size + 8] ^= 0xFF  # meta 0's page size field: checksum fails
    parsed = read_bbolt(bytes(data))
    assert parsed.txid == 4
    assert parsed.root == root


def flip(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0xFF
    return bytes(changed)


def test_corrupt_and_truncated_files_name_the_file_and_offset() -> None:
    data = write_bbolt(big_root(), page_size=4096)
    with pytest.raises(BoltFormatError, match=r"^snap\.db: offset 0: not a valid bbolt file"):
        read_bbolt(flip(flip(data, 16), 4096 + 16), "snap.db")
    with pytest.raises(BoltFormatError, match=r"^snap\.db: offset 8192: truncated"):
        read_bbolt(data[:8192], "snap.db")
    root_page = bbolt.META.unpack_from(data, bbolt.PAGE_HEADER.size)[4]
    corrupt = flip(data, root_page * 4096)  # the root page's id
    with pytest.raises(BoltFormatError, match=rf"offset {root_page * 4096}: page {root_page}"):
        read_bbolt(corrupt, "snap.db")
    element = root_page * 4096 + bbolt.PAGE_HEADER.size
    corrupt = flip(data, element + 6)  # the first element's pos points far away
    with pytest.raises(BoltFormatError, match=rf"offset {element}: leaf element"):
        read_bbolt(corrupt, "snap.db")
    with pytest.raises(BoltFormatError, match="not a valid bbolt file"):
        read_bbolt(b"\0" * 100, "short.db")


def test_writer_rejects_what_bbolt_cannot_store() -> None:
    with pytest.raises(ValueError, match="buckets only"):
        write_bbolt(Bucket({b"k": b"v"}))
    with pytest.raises(ValueError, match="1 to 32768 bytes"):
        write_bbolt(Bucket({b"b": Bucket({b"": b"v"})}))
    with pytest.raises(ValueError, match="power of two"):
        write_bbolt(Bucket(), page_size=3000)
