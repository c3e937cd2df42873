"""HashKV and Hash as etcd 3.5.1 computes them (mvcc ``store.HashByRev``, backend ``Hash``).

The hash is CRC-32C over the key bucket's name, then the bbolt key and value of every
record in revision order with main revision up to ``revision``. Records at or below the
compaction revision count only when the key index would keep them were it compacted at
``revision`` (``treeIndex.Keep``): the latest revision of each key's live generation, a
tombstone excluded, so the hash does not depend on how far a compaction has got in
deleting them. When that keep set is empty, every record counts.

The key index is rebuilt from the records (as etcd rebuilds it on start) and compacted
at the compaction revision, which is the state the live index is in.

The older Hash RPC hashes the whole db instead (``hash_db``): CRC-32C over every
bucket's name, then its keys and values, leaving out meta's ``consistent_index`` and
``term`` (etcd's DefaultIgnores), so it covers members, leases, alarms and auth too.
"""

from __future__ import annotations

from collections.abc import Sequence

import google_crc32c

from .bbolt import Bucket
from .etcd_db import CONSISTENT_INDEX, KEY, META, TERM, KeyRecord, encode_record

Revision = tuple[int, int]  # (main, sub)


def hash_kv(records: Sequence[KeyRecord], compact_revision: int, revision: int) -> int:
    """etcd's HashKV hash at ``revision`` over the key bucket's ``records``.

    The caller answers etcd's errors (a requested revision at or below the compaction,
    or above the current one) and passes the current revision for a request of 0; that
    one may equal the compaction revision, and is hashed then, as etcd does. A negative
    revision, which etcd passes through, hashes no record.
    """
    if 0 <= revision < compact_revision:
        raise ValueError(f"revision {revision} is compacted (at {compact_revision})")
    ordered = sorted(records, key=_revision_of)  # bbolt's key order; cheap when already sorted
    keep = _keep(ordered, compact_revision, revision)
    crc = google_crc32c.value(KEY)
    for record in ordered:
        if record.main > revision:
            continue
        if record.main <= compact_revision and keep and (record.main, record.sub) not in keep:
            continue
        raw_key, raw_value = encode_record(record)
        crc = google_crc32c.extend(crc, raw_key)
        crc = google_crc32c.extend(crc, raw_value)
    return int(crc)


def _revision_of(record: KeyRecord) -> Revision:
    return record.main, record.sub


def _generations(records: Sequence[KeyRecord]) -> dict[bytes, list[list[Revision]]]:
    """Each key's generations (the last one open, maybe empty), as etcd restores them
    from records in revision order."""
    index: dict[bytes, list[list[Revision]]] = {}
    for record in records:
        generations = index.get(record.key)
        if record.tombstone:
            # a tombstone of an unknown or already deleted key is skipped, as on restore
            if generations and generations[-1]:
                generations[-1].append((record.main, record.sub))
                generations.append([])
        elif generations is None:
            index[record.key] = [[(record.main, record.sub)]]
        else:
            generations[-1].append((record.main, record.sub))
    return index


def _find(generations: list[list[Revision]], at: int) -> tuple[int, int]:
    """(generation, index of its latest revision <= at, or -1): keyIndex.doCompact's walk
    over the first generation whose tombstone is above ``at``, else the last one."""
    gen = 0
    while gen < len(generations) - 1 and generations[gen][-1][0] <= at:
        gen += 1
    revs = generations[gen]
    for i in range(len(revs) - 1, -1, -1):
        if revs[i][0] <= at:
            return gen, i
    return gen, -1


def _compact(generations: list[list[Revision]], at: int) -> list[list[Revision]]:
    """The generations left by keyIndex.compact(at); [[]] when the key is gone."""
    gen, i = _find(generations, at)
    revs = generations[gen]
    if revs:
        if i != -1:
            revs = revs[i:]
        if len(revs) == 1 and gen != len(generations) - 1:
            gen, revs = gen + 1, generations[gen + 1]  # only the tombstone was left
    return [revs, *generations[gen + 1 :]]


def _keep(records: Sequence[KeyRecord], compact_revision: int, revision: int) -> set[Revision]:
    """treeIndex.Keep(revision) over the index compacted at ``compact_revision``."""
    keep: set[Revision] = set()
    for generations in _generations(records).values():
        generations = _compact(generations, compact_revision)
        if len(generations) == 1 and not generations[0]:
            continue  # compacted away: not in the index
        gen, i = _find(generations, revision)
        if i == -1:
            continue
        is_tombstone = i == len(generations[gen]) - 1 and gen != len(generations) - 1
        if not is_tombstone:
            keep.add(generations[gen][i])
    return keep


def hash_db(root: Bucket) -> int:
    """etcd's Hash RPC over a db's buckets (``root``, as ``state_buckets`` builds it)."""
    crc = 0
    for name, bucket in sorted(root.entries.items()):
        if not isinstance(bucket, Bucket):
            raise ValueError(f"{name!r} is not a bucket")
        crc = google_crc32c.extend(crc, name)
        for key, value in sorted(bucket.entries.items()):
            if name == META and key in (CONSISTENT_INDEX, TERM):
                continue
            crc = google_crc32c.extend(crc, key)
            if isinstance(value, bytes):  # a nested bucket's value is nil to etcd
                crc = google_crc32c.extend(crc, value)
    return int(crc)
