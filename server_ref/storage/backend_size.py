"""The size of etcd's backend (its bbolt file), modelled record by record.

etcd reports two figures and checks its space quota against the first:

- ``Size``: the bbolt high-water mark (pages ever allocated, times the page size). It
  grows with history and never shrinks on its own: compaction frees pages inside the
  file, which later writes reuse, but the file stays as large. Only a defragmentation
  (a fresh copy holding just what is in use) brings it down.
- ``SizeInUse``: ``Size`` less the free pages.

server_ref keeps its state in memory, so it models these figures instead of reading
a file: every record etcd would write in its ``key`` bucket (one per revision of a
key, tombstones included) and its ``lease`` bucket adds its share of the leaf pages
etcd would fill with it, and a record dropped by compaction (or a revoked lease)
gives its share back. The share follows bbolt's page split for etcd's sequential
writes (fill 90%, at least two elements per node, a node spanning as many pages as
it needs), so it is exact for a run of equal records and close for mixed ones.
Every figure is a function of the records alone: deterministic, and O(1) per record.
``benchmarks/db_size_calibration.py`` compares the figures with etcd 3.5.1's.
"""

from __future__ import annotations

from ..wire import field_size, varint_size

PAGE_SIZE = 4096  # bbolt's page size on etcd's usual platforms
FRESH_SIZE = 20480  # what a new etcd 3.5.1 member reports (probed): Size ...
FRESH_IN_USE = 16384  # ... and SizeInUse
_PAGE_HEADER = 16
_ELEMENT_HEADER = 16  # a leaf element: flags, position, key size, value size
_REVISION_KEY = 17  # 8-byte main revision, "_", 8-byte sub revision
_SPLIT_AT = int(PAGE_SIZE * 0.9) - _PAGE_HEADER  # etcd's sequential puts: fill 90%
_MIN_PER_NODE = 2  # bbolt's minKeysPerPage


def element_cost(element: int) -> int:
    """Bytes of pages taken per leaf element of ``element`` bytes (header included),
    in a run of such elements written in key order, as bbolt splits it: as many per
    node as fill 90% of a page, at least two, each node on whole pages."""
    per_node = max(_MIN_PER_NODE, _SPLIT_AT // element)
    pages = -(-(_PAGE_HEADER + per_node * element) // PAGE_SIZE)
    return -(-(pages * PAGE_SIZE) // per_node)


def _int_field(n: int) -> int:
    return 1 + varint_size(n) if n else 0


def key_record_cost(
    key: bytes, value: bytes, create_revision: int, mod_revision: int, version: int, lease: int
) -> int:
    """What a put's record costs: its revision key and its ``mvccpb.KeyValue``."""
    kv = (
        field_size(len(key))
        + _int_field(create_revision)
        + _int_field(mod_revision)
        + _int_field(version)
        + (field_size(len(value)) if value else 0)
        + _int_field(lease)
    )
    return element_cost(_ELEMENT_HEADER + _REVISION_KEY + kv)


def tombstone_cost(key: bytes) -> int:
    """What a delete's record costs: its revision key marked ``t``, and the key."""
    return element_cost(_ELEMENT_HEADER + _REVISION_KEY + 1 + field_size(len(key)))


def lease_record_cost(lease_id: int, ttl: int) -> int:
    """What a lease's record costs: its 8-byte id and its ``leasepb.Lease``."""
    return element_cost(_ELEMENT_HEADER + 8 + _int_field(lease_id) + _int_field(ttl))


def _pages(n: int) -> int:
    return -(-n // PAGE_SIZE) * PAGE_SIZE


class BackendSize:
    """etcd's ``Size`` and ``SizeInUse`` of one member's backend (see the module)."""

    __slots__ = ("_peak", "_records")

    def __init__(self) -> None:
        self._records = 0  # the bytes the records' pages take
        self._peak = FRESH_SIZE  # the high-water mark

    @property
    def size(self) -> int:
        """Bytes allocated: what the space quota is checked against."""
        return _pages(self._peak)

    @property
    def size_in_use(self) -> int:
        return FRESH_IN_USE + _pages(self._records)

    def add(self, cost: int) -> None:
        self._records += cost
        if FRESH_IN_USE + self._records > self._peak:
            self._peak = FRESH_IN_USE + self._records

    def free(self, cost: int) -> None:
        """Pages given back: free for reuse, still allocated."""
        self._records -= cost

    def defragment(self) -> None:
        """A fresh copy of what is in use: the allocation shrinks to it."""
        self._peak = self.size_in_use + PAGE_SIZE
