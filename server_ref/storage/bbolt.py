"""bbolt's file format, as bbolt v1.3.6 (the version etcd 3.5.1 links) lays it out.

A file is a sequence of fixed-size pages. Pages 0 and 1 hold the meta (the one with the
higher transaction id and a good FNV-64a checksum wins); it names the page of the root
bucket, the freelist page and the high-water mark (pages in use). A bucket is a B+tree
of branch and leaf pages; a leaf element flagged as a bucket holds a 16-byte bucket
header (root page, sequence) and, when the root page is 0, the bucket's one leaf page
inline after it. A page whose content outgrows it spans ``overflow`` following pages.
All integers are little-endian (etcd's files come from amd64/arm64 machines).

``write_bbolt`` lays a tree of buckets out compactly (every page reachable, none free)
so that bbolt's own consistency check (``etcdutl snapshot status``) accepts it;
``read_bbolt`` reads any valid file, and reports a corrupt or truncated one as a
``BoltFormatError`` naming the file and the offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

MAGIC = 0xED0CDAED
VERSION = 2
DEFAULT_PAGE_SIZE = 4096
NO_FREELIST = 0xFFFF_FFFF_FFFF_FFFF  # meta.freelist when the freelist is not synced

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF = 0x01  # leaf element flag: the value is a bucket

MAX_KEY_SIZE = 32768
MAX_VALUE_SIZE = (1 << 31) - 2

PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos, ksize, vsize (pos from the element)
BRANCH_ELEMENT = struct.Struct("<IIQ")  # pos, ksize, child page id
BUCKET_HEADER = struct.Struct("<QQ")  # root page id (0: inline), sequence
# magic, version, page size, flags, root bucket (root, sequence), freelist, pgid, txid, checksum
META = struct.Struct("<IIIIQQQQQQ")
META_SUMMED = META.size - 8  # the checksum covers every field before it
ELEMENT_SIZE = 16  # both element kinds
_FREELIST_COUNT_IN_BODY = 0xFFFF  # page.count saying "the count is the first id slot"


class BoltFormatError(ValueError):
    """The bytes are not a valid bbolt database (corrupt, truncated, or not bbolt at all)."""


@dataclass
class Bucket:
    """A bucket: keys in ascending byte order mapping to a value or a nested bucket."""

    entries: dict[bytes, bytes | Bucket] = field(default_factory=dict)
    sequence: int = 0  # bbolt's NextSequence counter


@dataclass(frozen=True)
class BoltFile:
    """What ``read_bbolt`` found: the root bucket's buckets and the meta it trusted."""

    root: Bucket
    page_size: int
    txid: int
    high_water: int  # pages in use (meta.pgid)
    free_pages: tuple[int, ...] | None  # None when the file has no synced freelist


def fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFF_FFFF_FFFF_FFFF
    return h


# ---------------------------------------------------------------------------- writing


def write_bbolt(root: Bucket, *, page_size: int = DEFAULT_PAGE_SIZE, txid: int = 1) -> bytes:
    """The file of a database holding ``root``'s buckets (the root holds buckets only)."""
    if page_size & (page_size - 1) or not 1024 <= page_size <= 65536:
        raise ValueError(f"page size {page_size} is not a power of two in [1024, 65536]")
    if txid < 1:
        raise ValueError("txid must be at least 1 (meta 1 gets txid - 1)")
    for name, value in root.entries.items():
        if not isinstance(value, Bucket):
            raise ValueError(f"the root bucket holds buckets only, not the value at {name!r}")
    writer = _PageWriter(page_size)
    root_page = writer.bucket_tree(root)
    freelist = bytearray(page_size)
    PAGE_HEADER.pack_into(freelist, 0, 2, FREELIST_PAGE, 0, 0)
    metas = [
        _meta_page(page_size, page_id, root_page, root.sequence, writer.next_id, txid - page_id)
        for page_id in (0, 1)
    ]
    return b"".join([*metas, bytes(freelist), *writer.pages])


def _meta_page(
    page_size: int, page_id: int, root: int, sequence: int, high_water: int, txid: int
) -> bytes:
    fields = (MAGIC, VERSION, page_size, 0, root, sequence, 2, high_water, txid)
    summed = META.pack(*fields, 0)[:META_SUMMED]
    page = bytearray(page_size)
    PAGE_HEADER.pack_into(page, 0, page_id, META_PAGE, 0, 0)
    META.pack_into(page, PAGE_HEADER.size, *fields, fnv64a(summed))
    return bytes(page)


def _node(flags: int, page_id: int, elements: list[bytes], payload: list[bytes]) -> bytes:
    return b"".join([PAGE_HEADER.pack(page_id, flags, len(elements), 0), *elements, *payload])


def _leaf_node(page_id: int, items: list[tuple[bytes, bytes, int]]) -> bytes:
    """A leaf page's bytes (header, elements, then each key followed by its value)."""
    elements = []
    payload = []
    pos = ELEMENT_SIZE * len(items)  # from the first element to the first key
    for key, value, flags in items:
        elements.append(LEAF_ELEMENT.pack(flags, pos, len(key), len(value)))
        payload.append(key)
        payload.append(value)
        pos += len(key) + len(value) - ELEMENT_SIZE
    return _node(LEAF_PAGE, page_id, elements, payload)


def _branch_node(page_id: int, children: list[tuple[bytes, int]]) -> bytes:
    elements = []
    pos = ELEMENT_SIZE * len(children)
    for key, child in children:
        elements.append(BRANCH_ELEMENT.pack(pos, len(key), child))
        pos += len(key) - ELEMENT_SIZE
    return _node(BRANCH_PAGE, page_id, elements, [key for key, _ in children])


def _fill(sizes: list[int], page_size: int) -> Iterator[tuple[int, int]]:
    """Split elements of the given sizes into [start, end) runs filling pages greedily."""
    start, used = 0, PAGE_HEADER.size
    for i, size in enumerate(sizes):
        if i > start and used + size > page_size:
            yield start, i
            start, used = i, PAGE_HEADER.size
        used += size
    yield start, len(sizes)


class _PageWriter:
    """Appends pages after the two meta pages and the freelist page (page ids from 3)."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.pages: list[bytes] = []
        self.next_id = 3

    def _add(self, node: bytes) -> int:
        page_id = self.next_id
        count = -(-len(node) // self.page_size)  # what it spans, overflow included
        padded = bytearray(node)
        padded.extend(bytes(count * self.page_size - len(node)))
        struct.pack_into("<I", padded, 12, count - 1)  # page.overflow
        self.pages.append(bytes(padded))
        self.next_id += count
        return page_id

    def bucket_tree(self, bucket: Bucket) -> int:
        """Write the bucket's pages (children first); the id of its root page."""
        items = self._items(bucket)
        sizes = [ELEMENT_SIZE + len(key) + len(value) for key, value, _ in items]
        level: list[tuple[bytes, int]] = []
        for start, end in _fill(sizes, self.page_size):
            run = items[start:end]
            node = _leaf_node(self.next_id, run)
            level.append((run[0][0] if run else b"", self._add(node)))
        while len(level) > 1:
            sizes = [ELEMENT_SIZE + len(key) for key, _ in level]
            level = [
                (level[start][0], self._add(_branch_node(self.next_id, level[start:end])))
                for start, end in _fill(sizes, self.page_size)
            ]
        return level[0][1]

    def _items(self, bucket: Bucket) -> list[tuple[bytes, bytes, int]]:
        """The bucket's leaf items in key order, nested buckets written or inlined."""
        items = []
        for key in sorted(bucket.entries):
            value = bucket.entries[key]
            if not key or len(key) > MAX_KEY_SIZE:
                raise ValueError(f"key of {len(key)} bytes: bbolt keys are 1 to 32768 bytes")
            if isinstance(value, Bucket):
                items.append((key, self._bucket_value(value), BUCKET_LEAF))
            elif len(value) > MAX_VALUE_SIZE:
                raise ValueError(f"value of {len(value)} bytes at {key!r} is too large")
            else:
                items.append((key, bytes(value), 0))
        return items

    def _bucket_value(self, bucket: Bucket) -> bytes:
        """A nested bucket's header, with its page inline when small and flat, as bbolt does."""
        flat = [(k, v) for k, v in bucket.entries.items() if not isinstance(v, Bucket)]
        if len(flat) == len(bucket.entries):
            size = PAGE_HEADER.size + sum(ELEMENT_SIZE + len(k) + len(v) for k, v in flat)
            if size <= self.page_size // 4:
                inline = _leaf_node(0, self._items(bucket))
                return BUCKET_HEADER.pack(0, bucket.sequence) + inline
        return BUCKET_HEADER.pack(self.bucket_tree(bucket), bucket.sequence)


# ---------------------------------------------------------------------------- reading


def read_bbolt(data: bytes, name: str = "<bytes>") -> BoltFile:
    """Parse a bbolt file; ``name`` (its path, say) is given in every error."""
    return _Reader(bytes(data), name).read()


@dataclass(frozen=True)
class _Meta:
    page_size: int
    root: int
    sequence: int
    freelist: int
    high_water: int
    txid: int


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name
        self.page_size = 0
        self.high_water = 0
        self.seen: set[int] = set()

    def fail(self, offset: int, message: str) -> BoltFormatError:
        return BoltFormatError(f"{self.name}: offset {offset}: {message}")

    def read(self) -> BoltFile:
        meta = self._choose_meta()
        self.page_size, self.high_water = meta.page_size, meta.high_water
        needed = meta.high_water * meta.page_size
        if len(self.data) < needed:
            raise self.fail(
                len(self.data),
                f"truncated: the meta says {meta.high_water} pages of {meta.page_size} bytes "
                f"({needed} bytes) but the file ends at {len(self.data)}",
            )
        self.seen.update((0, 1))
        free = None if meta.freelist == NO_FREELIST else self._freelist(meta.freelist)
        root = Bucket(sequence=meta.sequence)
        self._tree(meta.root, root)
        return BoltFile(root, meta.page_size, meta.txid, meta.high_water, free)

    def _meta_at(self, offset: int) -> tuple[_Meta | None, str]:
        """The meta stored in the page at ``offset``, or None and why it is not valid."""
        start = offset + PAGE_HEADER.size
        if len(self.data) < start + META.size:
            return None, "file too short for a meta page"
        fields = META.unpack_from(self.data, start)
        magic, version, page_size, _flags, root, seq, freelist, pgid, txid, checksum = fields
        if magic != MAGIC:
            return None, f"no bbolt magic (found {magic:#010x})"
        if version != VERSION:
            return None, f"bbolt version {version}, expected {VERSION}"
        if checksum and checksum != fnv64a(self.data[start : start + META_SUMMED]):
            return None, "meta checksum mismatch"
        if page_size & (page_size - 1) or not 512 <= page_size <= 65536:
            return None, f"page size {page_size} is not a power of two in [512, 65536]"
        if not 2 <= root < pgid or (freelist != NO_FREELIST and not 2 <= freelist < pgid):
            return None, f"root {root} or freelist {freelist} outside the {pgid} pages in use"
        return _Meta(page_size, root, seq, freelist, pgid, txid), ""

    def _choose_meta(self) -> _Meta:
        """The valid meta with the higher txid (bbolt falls back to the other one)."""
        meta0, why0 = self._meta_at(0)
        candidates = [meta0.page_size] if meta0 else [DEFAULT_PAGE_SIZE, 1024, 2048, 8192]
        candidates += [16384, 32768, 65536]
        meta1, why1 = None, "no valid meta page 1"
        for size in candidates:
            meta1, why1 = self._meta_at(size)
            if meta1 and meta1.page_size == size:
                break
            meta1 = None
        valid = [m for m in (meta0, meta1) if m is not None]
        if not valid:
            raise self.fail(0, f"not a valid bbolt file: meta 0: {why0}; meta 1: {why1}")
        return max(valid, key=lambda m: m.txid)

    def _page(self, page_id: int, flags: int, referrer: str) -> tuple[int, int, int]:
        """Check the page referenced by ``referrer`` and claim it; (offset, count, extent end)."""
        if not 2 <= page_id < self.high_water:
            raise self.fail(0, f"{referrer} refers to page {page_id}, outside pages in use")
        offset = page_id * self.page_size
        header_id, page_flags, count, overflow = PAGE_HEADER.unpack_from(self.data, offset)
        if header_id != page_id:
            raise self.fail(offset, f"page {page_id} has id {header_id} in its header")
        if not page_flags & flags:
            found = f"page {page_id} has flags {page_flags:#x}"
            raise self.fail(offset, f"{found}, {referrer} expects {flags:#x}")
        end = offset + (overflow + 1) * self.page_size
        if page_id + overflow >= self.high_water or end > len(self.data):
            raise self.fail(offset, f"page {page_id} overflows by {overflow} past the end")
        for pid in range(page_id, page_id + overflow + 1):
            if pid in self.seen:
                raise self.fail(offset, f"page {pid} is referenced twice")
            self.seen.add(pid)
        return offset, count, end

    def _freelist(self, page_id: int) -> tuple[int, ...]:
        offset, count, end = self._page(page_id, FREELIST_PAGE, "the meta's freelist")
        body = offset + PAGE_HEADER.size
        if count == _FREELIST_COUNT_IN_BODY:
            if body + 8 > end:
                raise self.fail(body, "freelist count slot past the page end")
            (count,) = struct.unpack_from("<Q", self.data, body)
            body += 8
        if body + 8 * count > end:
            raise self.fail(body, f"freelist of {count} ids runs past its page")
        ids = struct.unpack_from(f"<{count}Q", self.data, body)
        if any(not 2 <= pid < self.high_water for pid in ids):
            raise self.fail(body, "freelist holds a page id outside the pages in use")
        return tuple(sorted(ids))

    def _tree(self, page_id: int, bucket: Bucket) -> None:
        """Read the B+tree rooted at ``page_id`` into ``bucket`` (keys in order)."""
        offset, count, end = self._page(page_id, BRANCH_PAGE | LEAF_PAGE, "a bucket")
        flags = PAGE_HEADER.unpack_from(self.data, offset)[1]
        if flags & LEAF_PAGE:
            self._leaf(self.data, offset, count, end, bucket)
            return
        elements_end = offset + PAGE_HEADER.size + ELEMENT_SIZE * count
        if count == 0 or elements_end > end:
            raise self.fail(offset, f"branch page {page_id} with {count} elements")
        for _, _, child in BRANCH_ELEMENT.iter_unpack(
            self.data[offset + PAGE_HEADER.size : elements_end]
        ):
            self._tree(child, bucket)

    def _leaf(self, data: bytes, offset: int, count: int, end: int, bucket: Bucket) -> None:
        """Add a leaf page's elements (``data[offset:end]``) to ``bucket``."""
        first = offset + PAGE_HEADER.size
        if first + ELEMENT_SIZE * count > end:
            raise self.fail(offset, f"leaf page of {count} elements overflows its page")
        entries = bucket.entries
        last = next(reversed(entries)) if entries else None
        element = first
        for flags, pos, ksize, vsize in LEAF_ELEMENT.iter_unpack(
            data[first : first + ELEMENT_SIZE * count]
        ):
            start = element + pos
            if start + ksize + vsize > end or ksize == 0:
                sizes = f"key {ksize}, value {vsize} bytes at {pos}"
                raise self.fail(element, f"leaf element ({sizes}) outside its page")
            key = data[start : start + ksize]
            if last is not None and key <= last:
                raise self.fail(element, f"key {key!r} out of order after {last!r}")
            value = data[start + ksize : start + ksize + vsize]
            entries[key] = self._bucket(value, element) if flags & BUCKET_LEAF else value
            last = key
            element += ELEMENT_SIZE

    def _bucket(self, value: bytes, offset: int) -> Bucket:
        if len(value) < BUCKET_HEADER.size:
            raise self.fail(offset, f"bucket value of {len(value)} bytes")
        root, sequence = BUCKET_HEADER.unpack_from(value)
        bucket = Bucket(sequence=sequence)
        if root:
            self._tree(root, bucket)
            return bucket
        page = value[BUCKET_HEADER.size :]
        if len(page) < PAGE_HEADER.size:
            raise self.fail(offset, "inline bucket shorter than a page header")
        _, flags, count, _ = PAGE_HEADER.unpack_from(page)
        if not flags & LEAF_PAGE:
            raise self.fail(offset, f"inline bucket page has flags {flags:#x}")
        try:
            self._leaf(page, 0, count, len(page), bucket)
        except BoltFormatError as err:
            raise self.fail(offset, f"inline bucket: {err}") from None
        return bucket
