"""A Raft member's persisted state in a data directory (``storage.RaftStorage``).

    DIR/etcd3py-server-ref     "format 1 raft" (a single member's reader refuses it)
    DIR/member/wal/*.wal       the log: storage/wal.py's segments, with Raft records
    DIR/member/snap/db         the data of the last snapshot (an etcd db file's bytes)

The log's records: RAFT_ENTRY (index, term, kind, data), HARD_STATE (commit, term, vote)
and SNAPSHOT, the marker of a snapshot (index, term, whether it replaces the whole log,
the checksum and size of its data, voters, learners). Reading them back in order rebuilds
the state: an entry replaces every entry from its index on (a follower's log suffix may be
overwritten), a marker drops the entries it stands for.

A snapshot's data is written before its marker: to a file aside, synced, then renamed
over member/snap/db, the old db kept as db.prev until the marker is durable. A crash
between them leaves a marker whose data is db.prev (put back at the next open) or db:
the marker's checksum says which. Each save is one batch of records, written and synced
by one worker thread in order (``_io``), so the event loop runs while the disk syncs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import google_crc32c

from ..raft import Entry, EntryKind, HardState, Snapshot
from ..storage.datadir import RAFT, DataDir, DataDirError
from ..storage.wal import (
    HARD_STATE,
    RAFT_ENTRY,
    SNAPSHOT,
    Segments,
    Wal,
    WalError,
    make_record,
    read_segments,
)
from .storage import LogShape, Persisted, as_json

log = logging.getLogger("etcd3py.server_ref")

_T = TypeVar("_T")
_ENTRY = struct.Struct("<QQB")  # index, term, kind
_HARD_STATE = struct.Struct("<QQQ")  # commit, term, vote (commit first: see wal._first_index)
_MARKER = struct.Struct("<QQBIQ")  # index, term, replaces the log, crc32c and size of data
_COUNT = struct.Struct("<I")
_COMPACT_STAGE = "db.compact.tmp"  # a compaction's data, written outside the log's thread


# ---- records ----


def entry_record(entry: Entry) -> bytes:
    payload = _ENTRY.pack(entry.index, entry.term, entry.kind.value) + entry.data
    return make_record(RAFT_ENTRY, payload)


def hard_state_record(state: HardState) -> bytes:
    return make_record(HARD_STATE, _HARD_STATE.pack(state.commit, state.term, state.vote))


@dataclass(frozen=True)
class Marker:
    """A snapshot as the log records it: all but its data, and how to recognise that."""

    snapshot: Snapshot  # with empty data
    replaces_log: bool  # received (the whole log goes), or taken (entries up to it go)
    crc: int
    size: int

    @classmethod
    def of(cls, snapshot: Snapshot, *, replaces_log: bool) -> Marker:
        data = snapshot.data
        bare = Snapshot(snapshot.index, snapshot.term, snapshot.voters, b"", snapshot.learners)
        return cls(bare, replaces_log, google_crc32c.value(data), len(data))

    def record(self) -> bytes:
        s = self.snapshot
        payload = _MARKER.pack(s.index, s.term, self.replaces_log, self.crc, self.size)
        return make_record(SNAPSHOT, payload + _ids(s.voters) + _ids(s.learners))

    def holds(self, data: bytes) -> bool:
        return len(data) == self.size and google_crc32c.value(data) == self.crc


def _ids(ids: frozenset[int]) -> bytes:
    return _COUNT.pack(len(ids)) + b"".join(struct.pack("<Q", i) for i in sorted(ids))


def _decode_entry(payload: bytes) -> Entry:
    index, term, kind = _ENTRY.unpack_from(payload)
    return Entry(term, index, payload[_ENTRY.size :], EntryKind(kind))


def _decode_hard_state(payload: bytes) -> HardState:
    commit, term, vote = _HARD_STATE.unpack(payload)
    return HardState(term=term, vote=vote, commit=commit)


def _decode_marker(payload: bytes) -> Marker:
    index, term, replaces, crc, size = _MARKER.unpack_from(payload)
    at = _MARKER.size
    groups = []
    for _ in range(2):
        (count,) = _COUNT.unpack_from(payload, at)
        at += _COUNT.size
        groups.append(frozenset(struct.unpack_from(f"<{count}Q", payload, at)))
        at += 8 * count
    if at != len(payload):
        raise ValueError(f"{len(payload) - at} bytes after the marker")
    voters, learners = groups
    return Marker(Snapshot(index, term, voters, b"", learners), bool(replaces), crc, size)


# ---- reading back ----


@dataclass
class Replayed:
    """The state a log's records build, and the largest entry index of each segment."""

    hard_state: HardState = field(default_factory=HardState)
    marker: Marker | None = None
    entries: list[Entry] = field(default_factory=list)
    segment_tops: list[int] = field(default_factory=list)


def replay(segments: Segments) -> Replayed:
    """Rebuild the state from the records, in order; a record that does not fit (an
    entry leaving a gap, a marker going back, a missing segment) is a WalError."""
    seqs = segments.seqs
    for path, seq, before in zip(segments.paths[1:], seqs[1:], seqs, strict=False):
        if seq != before + 1:
            raise WalError(f"{path}: segment {seq:x} follows {before:x}: one is missing")
    state = Replayed()
    # Entries follow on from `base`. It is known (anchored) from the log's first segment
    # or a snapshot's marker; after released segments it is first guessed from an entry
    # (an older marker's entries were released by a newer one still to come).
    base, anchored = 0, seqs[0] == 0
    for path, records in zip(segments.paths, segments.records, strict=True):
        top = 0
        for kind, payload, offset in records:
            where = f"{path}: offset {offset}"
            try:
                if kind == RAFT_ENTRY:
                    entry = _decode_entry(payload)
                    last = base + len(state.entries)
                    if not state.entries and not anchored:
                        base = last = entry.index - 1
                    if not (base if anchored else 0) < entry.index <= last + 1:
                        raise WalError(
                            f"{where}: entry {entry.index} where the log holds ({base}, {last}]"
                        )
                    if entry.index <= base:  # before the guess: the guess was too high
                        state.entries, base = [], entry.index - 1
                    del state.entries[entry.index - base - 1 :]
                    state.entries.append(entry)
                    top = max(top, entry.index)
                elif kind == HARD_STATE:
                    state.hard_state = _decode_hard_state(payload)
                elif kind == SNAPSHOT:
                    marker = _decode_marker(payload)
                    index = marker.snapshot.index
                    if state.marker is not None and index <= state.marker.snapshot.index:
                        raise WalError(f"{where}: snapshot {index} goes back")
                    if marker.replaces_log:
                        state.entries, base, anchored = [], index, True
                    elif anchored or (state.entries and index >= base):
                        del state.entries[: index - base]
                        base, anchored = index, True
                    # else some entries it kept were in segments a later snapshot released
                    state.marker = marker
                else:
                    raise WalError(f"{where}: record type {kind} is not a Raft log's")
            except (struct.error, ValueError) as err:
                raise WalError(f"{where}: a malformed record ({err})") from None
        state.segment_tops.append(top)
    start = 0 if state.marker is None else state.marker.snapshot.index
    if state.entries and state.entries[0].index != start + 1:
        raise WalError(
            f"{segments.paths[0]}: the log holds entries from {state.entries[0].index}, "
            f"after a snapshot at {start}: the segments with those before are missing"
        )
    return state


def _recover_db(folder: DataDir, marker: Marker | None, *, fsync: bool) -> None:
    """Make member/snap/db the data of the log's last marker (a crash may have left the
    new data of a marker never written, or the old data aside); drop leftovers."""
    for staged in (folder.snap / "db.tmp", folder.snap / _COMPACT_STAGE):
        staged.unlink(missing_ok=True)
    if marker is None:  # a first snapshot the crash stopped before its marker
        folder.db.unlink(missing_ok=True)
        folder.previous_db.unlink(missing_ok=True)
        return
    if folder.db.exists() and marker.holds(folder.db.read_bytes()):
        folder.previous_db.unlink(missing_ok=True)
        return
    if folder.previous_db.exists() and marker.holds(folder.previous_db.read_bytes()):
        folder.install_db(folder.previous_db, fsync=fsync)
        return
    raise WalError(
        f"{folder.db}: does not hold the data of snapshot {marker.snapshot.index} that the "
        f"log records ({marker.size} bytes, crc32c {marker.crc:08x}), nor does "
        f"{folder.previous_db.name}"
    )


# ---- the storage ----


class DiskRaftStorage:
    """A Raft member's state in a data directory; see the module docstring."""

    def __init__(self, folder: DataDir, wal: Wal, state: Replayed, *, fsync: bool) -> None:
        self._folder = folder
        self._wal = wal
        self._fsync = fsync
        self._hard_state = state.hard_state
        self._tops = state.segment_tops  # of wal.segments, kept in step with it
        self._on_disk = 0 if state.marker is None else state.marker.snapshot.index
        last = state.entries[-1].index if state.entries else self._on_disk
        self._shape = LogShape(self._on_disk, last)  # in call order (saves check against it)
        self._loaded: Persisted | None = None
        self._worker = concurrent.futures.ThreadPoolExecutor(1, "etcd3py-raft-wal")
        self._compacting = asyncio.Lock()
        self._broken: str | None = None
        self._closed = False

    # ---- creating and opening ----

    @staticmethod
    def exists(path: str | Path) -> bool:
        """Whether ``path`` holds a Raft member's data (a single member's: DataDirError)."""
        return DataDir(path, RAFT).exists()

    @classmethod
    def create(cls, path: str | Path, metadata: dict[str, Any], fsync: bool) -> DiskRaftStorage:
        folder = DataDir(path, RAFT)
        if folder.exists():
            raise DataDirError(f"data dir {folder.path}: holds a member's data already")
        folder.create(fsync=fsync)
        first = hard_state_record(HardState())
        wal = Wal.create_with(folder.wal, as_json(metadata), first, 1, fsync=fsync)
        state = Replayed(segment_tops=[0])
        return cls(folder, wal, state, fsync=fsync)

    @classmethod
    def open(cls, path: str | Path, fsync: bool) -> DiskRaftStorage:
        """Read the log back (a torn tail of its last segment is cut: it was never
        acknowledged), put the snapshot's data in order, and open for appending."""
        folder = DataDir(path, RAFT)
        if not folder.exists():
            raise DataDirError(f"data dir {folder.path}: no member's data here")
        segments = read_segments(folder.wal)
        state = replay(segments)  # every check before anything is changed
        cut = segments.cut_torn_tail(fsync=fsync)
        if cut:
            log.warning("%s: cut %d bytes a crash left unfinished", segments.paths[-1], cut)
        _recover_db(folder, state.marker, fsync=fsync)
        storage = cls(
            folder,
            Wal(folder.wal, segments.metadata, segments.paths, fsync=fsync),
            state,
            fsync=fsync,
        )
        storage._loaded = storage._persisted(state, segments.metadata)
        return storage

    # ---- RaftStorage ----

    def load(self) -> Persisted:
        """What is on disk (read again after a save or a compaction)."""
        if self._loaded is None:
            segments = read_segments(self._folder.wal)
            self._loaded = self._persisted(replay(segments), segments.metadata)
        return self._loaded

    def _persisted(self, state: Replayed, metadata: dict[str, Any]) -> Persisted:
        snapshot = None
        if state.marker is not None:
            bare, data = state.marker.snapshot, self._folder.read_db() or b""
            snapshot = Snapshot(bare.index, bare.term, bare.voters, data, bare.learners)
        return Persisted(state.hard_state, snapshot, tuple(state.entries), metadata)

    async def save(
        self, snapshot: Snapshot | None, hard_state: HardState | None, entries: Sequence[Entry]
    ) -> None:
        self._check_open()
        self._shape.check_save(snapshot, entries)
        self._shape.saved(snapshot, entries)
        self._loaded = None
        if snapshot is None and hard_state is None and not entries:
            return
        await self._io(lambda: self._write(snapshot, hard_state, entries))

    def _write(
        self, snapshot: Snapshot | None, hard_state: HardState | None, entries: Sequence[Entry]
    ) -> None:
        """In the log's thread: one batch of records, the snapshot's data first."""
        with self._failing():
            last = 0
            if snapshot is not None:
                staged = self._folder.stage_db(snapshot.data, fsync=self._fsync)
                self._folder.install_db(staged, fsync=self._fsync, keep_previous=True)
                marker = Marker.of(snapshot, replaces_log=True)
                self._wal.add_record(marker.record(), snapshot.index)
            # the entries before the state that may commit them, as etcd's WAL.Save: a
            # batch torn by a crash then loses the state first, never leaving a commit
            # index past the last entry (a member that could not start again)
            for entry in entries:
                self._wal.add_record(entry_record(entry), entry.index)
                last = entry.index
            if hard_state is not None:
                self._wal.add_record(hard_state_record(hard_state), hard_state.commit)
            self._flush(top=last)
            if snapshot is not None:
                self._on_disk = snapshot.index
                self._folder.previous_db.unlink(missing_ok=True)
            if hard_state is not None:
                self._hard_state = hard_state

    async def compact(self, snapshot: Snapshot) -> None:
        self._check_open()
        if not self._shape.compacts(snapshot):
            return
        self._shape.compacted(snapshot)
        self._loaded = None
        async with self._compacting:  # one staged file at a time
            if self._fsync:  # the data is written outside the log's thread: saves go on
                loop = asyncio.get_running_loop()
                staged = await loop.run_in_executor(None, self._stage_compaction, snapshot)
            else:
                staged = self._stage_compaction(snapshot)
            await self._io(lambda: self._compact(snapshot, staged))

    def _stage_compaction(self, snapshot: Snapshot) -> Path:
        with self._failing():
            return self._folder.stage_db(snapshot.data, fsync=self._fsync, name=_COMPACT_STAGE)

    def _compact(self, snapshot: Snapshot, staged: Path) -> None:
        """In the log's thread: the data, then its marker in a new segment (the current
        hard state again after it), then the segments it makes useless go."""
        with self._failing():
            if snapshot.index <= self._on_disk:  # a newer snapshot was received meanwhile
                staged.unlink()
                return
            self._folder.install_db(staged, fsync=self._fsync, keep_previous=True)
            self._wal.request_cut()
            self._wal.add_record(Marker.of(snapshot, replaces_log=False).record(), snapshot.index)
            self._wal.add_record(hard_state_record(self._hard_state), self._hard_state.commit)
            self._flush(top=0)
            self._on_disk = snapshot.index
            self._folder.previous_db.unlink(missing_ok=True)
            useless = 0
            while useless < len(self._tops) - 1 and self._tops[useless] <= snapshot.index:
                useless += 1
            released = self._wal.release_first(useless)
            del self._tops[: len(released)]

    def _flush(self, *, top: int) -> None:
        before = len(self._wal.segments)
        self._wal.flush()
        self._tops.extend([0] * (len(self._wal.segments) - before))  # cut by the flush
        self._tops[-1] = max(self._tops[-1], top)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._compacting:  # a compaction under way finishes first
            await self._io(self._wal.close)  # after the saves under way
        self._worker.shutdown(wait=True)

    # ---- helpers ----

    def _check_open(self) -> None:
        if self._closed:
            raise WalError(f"{self._wal.folder}: the storage is closed")
        if self._broken is not None:
            raise WalError(self._broken)

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """A write that fails leaves the storage refusing writes: what is on disk reads
        back right at the next open, but this instance no longer knows where it stands."""
        if self._broken is not None:
            raise WalError(self._broken)
        try:
            yield
        except (OSError, WalError) as err:
            self._broken = f"{self._folder.path}: a write failed ({err})"
            if isinstance(err, OSError):
                raise WalError(self._broken) from err
            raise

    async def _io(self, work: Callable[[], _T]) -> _T:
        """File work on the log, in call order: with fsync in the log's one thread (the
        event loop runs while the disk syncs), without it at once (a copy into the
        kernel's cache costs less than the hand-over to a thread; see server/durable.py)."""
        if self._fsync:
            return await asyncio.get_running_loop().run_in_executor(self._worker, work)
        return work()
