"""The multi-version key-value store: revisions, history, ranges and compaction.

Follows etcd's mvcc package. Every write transaction that changes something creates
one new main revision; the changes inside it are numbered by a sub-revision. Each key
keeps its versions (tombstones included) until compaction, so reads at a past
revision and watch replays are answered from history. Keys are also kept in a sorted
index, so a range visits only the keys inside it.

The store is not thread-safe: the server runs it on one asyncio event loop, where a
write transaction runs without yielding and is therefore atomic. A committed version is
never changed (compaction only drops versions), so ``freeze`` can hand out the kept
versions as they are, to be encoded or hashed off the loop.

On disk (a snapshot, a data directory) the kept versions are etcd's key bucket
records (``storage/etcd_db.KeyRecord``): ``freeze().records()`` writes them and
``load`` reads them back, as etcd's kvstore restores itself on start.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol

from etcd3py import _etcd_errors as E
from etcd3py._proto import kv_pb2

from ..errors import ServerError
from ..storage.backend_size import BackendSize, key_record_cost, tombstone_cost
from ..storage.etcd_db import NOT_COMPACTED, KeyRecord
from ..storage.hash import hash_kv
from .sorted_keys import SortedKeys

_mod_rev = attrgetter("mod_revision")
_revision_of = attrgetter("mod_revision", "sub")


class Version:
    """One version of a key: a value written at ``mod_revision``, or a tombstone."""

    __slots__ = (
        "create_revision",
        "key",
        "lease",
        "mod_revision",
        "sub",
        "tombstone",
        "value",
        "version",
    )

    def __init__(
        self,
        key: bytes,
        value: bytes,
        create_revision: int,
        mod_revision: int,
        version: int,
        lease: int,
        sub: int,
        tombstone: bool = False,
    ) -> None:
        self.key = key
        self.value = value
        self.create_revision = create_revision
        self.mod_revision = mod_revision
        self.version = version
        self.lease = lease
        self.sub = sub
        self.tombstone = tombstone

    def __repr__(self) -> str:
        kind = "tombstone" if self.tombstone else f"v{self.version}"
        return f"<Version {self.key!r} {kind} @{self.mod_revision}.{self.sub}>"


def record_cost(v: Version) -> int:
    """What ``v``'s record takes in etcd's backend (see storage/backend_size.py)."""
    if v.tombstone:
        return tombstone_cost(v.key)
    return key_record_cost(v.key, v.value, v.create_revision, v.mod_revision, v.version, v.lease)


def fill_kv(out: kv_pb2.KeyValue, v: Version, keys_only: bool = False) -> None:
    """Write ``v`` into ``out`` as etcd's mvccpb.KeyValue (unset fields stay unset)."""
    out.key = v.key
    out.create_revision = v.create_revision
    out.mod_revision = v.mod_revision
    out.version = v.version
    if v.value and not keys_only:
        out.value = v.value
    if v.lease:
        out.lease = v.lease


def record_of(v: Version) -> KeyRecord:
    """``v`` as etcd's key bucket holds it (a tombstone keeps its key only)."""
    if v.tombstone:
        return KeyRecord(v.key, v.mod_revision, v.sub, tombstone=True)
    return KeyRecord(v.key, v.mod_revision, v.sub, v.create_revision, v.version, v.value, v.lease)


def version_of(r: KeyRecord) -> Version:
    """The version a key bucket record holds."""
    if r.tombstone:
        return Version(r.key, b"", 0, r.main, 0, 0, r.sub, tombstone=True)
    return Version(r.key, r.value, r.create_revision, r.main, r.version, r.lease, r.sub)


@dataclass(frozen=True, slots=True)
class KeyHistory:
    """The key space at one moment: every kept version in (revision, sub) order, the
    revision and the compaction point. Safe to read from any thread."""

    versions: tuple[Version, ...]
    revision: int
    compact_revision: int

    def records(self) -> list[KeyRecord]:
        """The versions as etcd's key bucket records, in its order."""
        return [record_of(v) for v in self.versions]

    def hash_kv(self, rev: int) -> int:
        """etcd's HashKV hash at ``rev``, resolved by ``Store.hash_revision``."""
        return hash_kv(self.records(), self.compact_revision, rev)


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: list[Version]
    count: int  # keys in the range at the revision, whatever the limit
    rev: int  # the store revision the read was made against


class LeaseIndex(Protocol):
    """What the store tells the lessor: which key is attached to which lease."""

    def attach(self, lease_id: int, key: bytes) -> None: ...
    def detach(self, lease_id: int, key: bytes) -> None: ...


class Store:
    """MVCC key-value store (see the module docstring)."""

    def __init__(self, lease_index: LeaseIndex, backend: BackendSize) -> None:
        self.rev = 1  # a new etcd store starts at revision 1
        self.compact_rev = NOT_COMPACTED  # etcd's compactMainRev before any compaction
        self._keys = SortedKeys()
        self._history: dict[bytes, list[Version]] = {}
        self._log: list[Version] = []  # every kept version in (revision, sub) order
        self._backend = backend  # sized by the records etcd would keep
        self._lease_index = lease_index
        self._listeners: list[Callable[[], None]] = []

    # ---- notifications ----

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every commit that changed something, and compaction."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    # ---- reads ----

    def _keys_in(self, begin: bytes, range_end: bytes) -> Iterator[bytes]:
        if not range_end:
            if begin in self._history:
                yield begin
        elif range_end == b"\x00":
            yield from self._keys.scan(begin, None)
        elif begin < range_end:
            yield from self._keys.scan(begin, range_end)

    def live_keys(self) -> int:
        """Keys whose last version is not a tombstone (etcd_debugging_mvcc_keys_total)."""
        return sum(1 for h in self._history.values() if h and not h[-1].tombstone)

    def get(self, key: bytes, rev: int) -> Version | None:
        """The live version of ``key`` at ``rev``, or None."""
        history = self._history.get(key)
        if not history:
            return None
        last = history[-1]
        if last.mod_revision <= rev:
            return None if last.tombstone else last
        i = bisect_right(history, rev, key=_mod_rev)
        if i == 0:
            return None
        found = history[i - 1]
        return None if found.tombstone else found

    def check_revision(self, rev: int, current: int | None = None) -> int:
        """Resolve a read revision as etcd does: <= 0 means current."""
        cur = self.rev if current is None else current
        if rev > cur:
            raise ServerError(E.FUTURE_REV)
        if rev <= 0:
            rev = cur
        if rev < self.compact_rev:
            raise ServerError(E.COMPACTED)
        return rev

    def range(
        self,
        key: bytes,
        range_end: bytes,
        rev: int = 0,
        limit: int = 0,
        count_only: bool = False,
        _current: int | None = None,
    ) -> RangeResult:
        """Live versions of the keys in the range at ``rev`` (0: current), in key order."""
        current = self.rev if _current is None else _current
        at = self.check_revision(rev, current)
        kvs: list[Version] = []
        count = 0
        get = self.get
        for k in self._keys_in(key, range_end):
            found = get(k, at)
            if found is None:
                continue
            count += 1
            if not count_only and (limit <= 0 or len(kvs) < limit):
                kvs.append(found)
        return RangeResult(kvs, count, current)

    def events(self, start_rev: int, end_rev: int, key: bytes, range_end: bytes) -> list[Version]:
        """Versions (tombstones are DELETE events) with start_rev <= revision <= end_rev."""
        if not range_end:
            source = self._history.get(key, [])
            lo = bisect_left(source, start_rev, key=_mod_rev)
            hi = bisect_right(source, end_rev, lo=lo, key=_mod_rev)
            return source[lo:hi]
        log = self._log
        lo = bisect_left(log, start_rev, key=_mod_rev)
        hi = bisect_right(log, end_rev, lo=lo, key=_mod_rev)
        if range_end == b"\x00":
            return [v for v in log[lo:hi] if v.key >= key]
        return [v for v in log[lo:hi] if key <= v.key < range_end]

    # ---- writes ----

    def write(self) -> WriteTxn:
        """Start a write transaction; call ``end()`` to commit it."""
        return WriteTxn(self)

    def compact(self, rev: int) -> None:
        """Forget history before ``rev``: reads at revisions < rev fail from now on."""
        if rev <= self.compact_rev:
            raise ServerError(E.COMPACTED)
        if rev > self.rev:
            raise ServerError(E.FUTURE_REV)
        self.compact_rev = rev
        self._drop_compacted()
        self._notify()

    def _drop_compacted(self) -> None:
        """Drop what compaction at ``compact_rev`` forgets: for every key, the versions
        before the one live at ``compact_rev``, and that one too if it is a tombstone."""
        rev = self.compact_rev
        dropped: set[int] = set()
        for key in list(self._history):
            history = self._history[key]
            i = bisect_right(history, rev, key=_mod_rev)  # versions [0, i) are <= rev
            if i == 0:
                continue
            # keep the version live at rev, unless it is a tombstone
            cut = i if history[i - 1].tombstone else i - 1
            if cut == 0:
                continue
            for old in history[:cut]:
                dropped.add(id(old))
                self._backend.free(record_cost(old))
            del history[:cut]
            if not history:
                del self._history[key]
                self._keys.discard(key)
        if dropped:
            self._log = [v for v in self._log if id(v) not in dropped]

    # ---- whole-store pictures: snapshots, hashes, restore ----

    def reset(self) -> None:
        """Empty the store, as new, before ``load`` replaces it with a snapshot; its
        listeners (open watches) stay and pull from the loaded history."""
        for v in self._log:
            self._backend.free(record_cost(v))
            if v.lease and not v.tombstone:
                self._lease_index.detach(v.lease, v.key)
        self.rev = 1
        self.compact_rev = NOT_COMPACTED
        self._keys = SortedKeys()
        self._history = {}
        self._log = []

    def freeze(self) -> KeyHistory:
        """The key space as it is now; later writes and compactions do not change it."""
        return KeyHistory(tuple(self._log), self.rev, self.compact_rev)

    def hash_revision(self, rev: int) -> int:
        """The revision HashKV hashes for a request of ``rev``, with etcd's errors
        (HashByRev): 0 is the current revision; the compaction revision itself is
        compacted (unlike for a read); a negative one is hashed as it is (no record)."""
        if 0 < rev <= self.compact_rev:
            raise ServerError(E.COMPACTED)
        if rev > self.rev:
            raise ServerError(E.FUTURE_REV)
        return self.rev if rev == 0 else rev

    def load(self, records: Iterable[KeyRecord], compact_revision: int, revision: int) -> None:
        """Fill this fresh store with etcd's key bucket ``records``, as etcd restores its
        store on start: every record becomes a version of its key, the compaction point
        is ``compact_revision`` (anything older that compaction forgets is dropped),
        the revision is ``revision`` and each key whose latest version is a put with a
        lease is attached to that lease (a lease the lessor lacks is ignored, as etcd
        logs and goes on)."""
        if self.rev != 1 or self._log or self.compact_rev != NOT_COMPACTED:
            raise ValueError("load() fills a fresh store")
        versions = sorted(map(version_of, records), key=_revision_of)
        last = versions[-1].mod_revision if versions else 1
        if not last <= revision or not compact_revision <= revision:
            raise ValueError(f"revision {revision} is below a record or the compaction point")
        for v in versions:
            history = self._history.get(v.key)
            if history is None:
                history = self._history[v.key] = []
                self._keys.add(v.key)
            history.append(v)
            self._backend.add(record_cost(v))
        self._log = versions
        self.rev = revision
        self.compact_rev = compact_revision
        if compact_revision != NOT_COMPACTED:
            self._drop_compacted()
        for key, history in self._history.items():
            latest = history[-1]
            if latest.lease and not latest.tombstone:
                self._lease_index.attach(latest.lease, key)
        self._notify()


class WriteTxn:
    """Changes applied under one new revision; reads inside see the earlier changes."""

    __slots__ = ("_store", "_undo", "begin_rev", "changes")

    def __init__(self, store: Store) -> None:
        self._store = store
        self.begin_rev = store.rev
        self.changes: list[Version] = []
        self._undo: list[Callable[[], None]] = []

    @property
    def read_rev(self) -> int:
        return self.begin_rev + 1 if self.changes else self.begin_rev

    def range(
        self, key: bytes, range_end: bytes, rev: int = 0, limit: int = 0, count_only: bool = False
    ) -> RangeResult:
        return self._store.range(key, range_end, rev, limit, count_only, _current=self.read_rev)

    def get(self, key: bytes) -> Version | None:
        return self._store.get(key, self.read_rev)

    def _append(self, version: Version) -> None:
        store = self._store
        history = store._history.get(version.key)
        if history is None:
            history = store._history[version.key] = []
            store._keys.add(version.key)
        history.append(version)
        self.changes.append(version)

        def undo() -> None:
            history.pop()
            if not history:
                del store._history[version.key]
                store._keys.discard(version.key)

        self._undo.append(undo)

    def _attach(self, lease_id: int, key: bytes, attach: bool) -> None:
        index = self._store._lease_index
        if attach:
            index.attach(lease_id, key)
            self._undo.append(lambda: index.detach(lease_id, key))
        else:
            index.detach(lease_id, key)
            self._undo.append(lambda: index.attach(lease_id, key))

    def put(self, key: bytes, value: bytes, lease: int) -> Version:
        rev = self.begin_rev + 1
        prev = self.get(key)
        if prev is None:
            version = Version(key, value, rev, rev, 1, lease, len(self.changes))
        else:
            version = Version(
                key, value, prev.create_revision, rev, prev.version + 1, lease, len(self.changes)
            )
            if prev.lease:
                self._attach(prev.lease, key, attach=False)
        self._append(version)
        if lease:
            self._attach(lease, key, attach=True)
        return version

    def delete_range(self, key: bytes, range_end: bytes) -> list[Version]:
        """Delete the live keys of the range; return their last versions."""
        deleted = self.range(key, range_end).kvs
        rev = self.begin_rev + 1
        for prev in deleted:
            self._append(Version(prev.key, b"", 0, rev, 0, 0, len(self.changes), tombstone=True))
            if prev.lease:
                self._attach(prev.lease, prev.key, attach=False)
        return deleted

    def abort(self) -> None:
        """Undo every change of this transaction (used when applying it failed)."""
        while self._undo:
            self._undo.pop()()
        self.changes.clear()

    def end(self) -> int:
        """Commit; return the store revision after the commit."""
        store = self._store
        if self.changes:
            store.rev = self.begin_rev + 1
            store._log.extend(self.changes)
            for version in self.changes:
                store._backend.add(record_cost(version))
            self._undo.clear()
            store._notify()
        return store.rev
