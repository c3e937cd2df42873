"""The write-ahead log: every proposal reaches the disk, checksummed, before it applies.

A log is a folder of segment files ``<seq>-<first index>.wal`` (16 hex digits each,
etcd's naming). A segment is a sequence of records::

    u32 length | u32 crc32c(body) | body = u8 type | payload       (little endian)

- METADATA (first record of every segment): JSON of the member's identity and the
  format version;
- ENTRY: u64 index, then the entry's bytes (a proposal in etcd's InternalRaftRequest
  form; this module does not look inside);
- STATE: u64 term, u64 index: the raft state at a (re)start, after which entries go
  on from ``index + 1``.

A Raft member's log (``cluster/disk.py``) is made of the same segments and records, with
record types of its own, which ``Wal.open`` refuses (it reads a single member's log):

- RAFT_ENTRY: u64 index, u64 term, u8 kind, then the entry's bytes;
- HARD_STATE: u64 commit, u64 term, u64 vote;
- SNAPSHOT: u64 index, then the rest of the snapshot's marker (``cluster/disk.py``).

``read_segments`` reads and checks the records of either kind of log, without
interpreting them.

Records are appended in batches; ``flush`` writes a batch and fsyncs it (group
commit), so a batch is durable, or not there, as a whole from the caller's view.

Reading back (``open``) checks every record. A crash can leave the last record of the
last segment half written (a torn tail): it is cut off, as the write it held was
never acknowledged. Damage anywhere else -- a bad checksum followed by more data, a
gap in the indexes, a segment that does not start with its metadata -- is refused
with an error naming the file and the offset: nothing is ever silently skipped.
"""

from __future__ import annotations

import errno
import io
import json
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google_crc32c

from .disk_metrics import WAL_FSYNC

SEGMENT_BYTES = 64 * 1024 * 1024  # etcd's SegmentSizeBytes: a new segment past this
METADATA, ENTRY, STATE = 1, 2, 3
RAFT_ENTRY, HARD_STATE, SNAPSHOT = 4, 5, 6  # a Raft member's log only
_HEADER = struct.Struct("<II")
_U64 = struct.Struct("<Q")
_STATE = struct.Struct("<QQ")
_MAX_RECORD = 1 << 31  # far above any request etcd takes: a larger length is damage


class WalError(Exception):
    """The log cannot be read or written; the message names the file."""


@dataclass
class Replayed:
    """What a log holds: its metadata, its entries after a given index, the raft state."""

    metadata: dict[str, Any]
    entries: list[tuple[int, bytes]] = field(default_factory=list)
    term: int = 0
    last_index: int = 0  # of the last entry or state record
    cut_bytes: int = 0  # of a torn tail cut off the last segment


@dataclass
class Segments:
    """Every record of a log, checked (checksums, metadata) but not interpreted."""

    paths: list[Path]
    metadata: dict[str, Any]
    records: list[list[tuple[int, bytes, int]]]  # per segment: (type, payload, offset)
    torn_bytes: int = 0  # at the end of the last segment: a write a crash left unfinished

    @property
    def seqs(self) -> list[int]:
        return [_parse_name(path)[0] for path in self.paths]

    def cut_torn_tail(self, *, fsync: bool) -> int:
        """Cut the torn tail off the last segment; return how many bytes went."""
        if self.torn_bytes:
            path = self.paths[-1]
            with open(path, "r+b") as out:
                out.truncate(path.stat().st_size - self.torn_bytes)
                out.flush()
                if fsync:
                    os.fsync(out.fileno())
        cut, self.torn_bytes = self.torn_bytes, 0
        return cut


def read_segments(folder: Path) -> Segments:
    """Read every segment of the log in ``folder`` in order; a torn tail of the last one is
    found (not yet cut), damage anywhere else is a ``WalError`` naming file and offset."""
    paths = sorted(folder.glob("*.wal"), key=_parse_name)
    if not paths:
        raise WalError(f"{folder}: no log segments (*.wal)")
    found: Segments | None = None
    for number, path in enumerate(paths):
        last = number == len(paths) - 1
        data = path.read_bytes()
        records, good = _read_records(path, data, tail_may_tear=last)
        if not records or records[0][0] != METADATA:
            raise WalError(f"{path}: offset 0: a segment must start with its metadata")
        metadata = json.loads(records[0][1])
        if found is None:
            found = Segments(paths, metadata, [])
        elif metadata != found.metadata:
            raise WalError(f"{path}: its metadata differs from the first segment's")
        found.records.append(records[1:])
        if last:
            found.torn_bytes = len(data) - good
    assert found is not None
    return found


def _name(seq: int, first_index: int) -> str:
    return f"{seq:016x}-{first_index:016x}.wal"


def _parse_name(path: Path) -> tuple[int, int]:
    try:
        seq, first = path.stem.split("-")
        return int(seq, 16), int(first, 16)
    except ValueError:
        raise WalError(f"{path}: not a segment name (<seq>-<first index>.wal)") from None


def _record(kind: int, payload: bytes) -> bytes:
    body = bytes((kind,)) + payload
    return _HEADER.pack(len(body), google_crc32c.value(body)) + body


def make_record(kind: int, payload: bytes) -> bytes:
    """A record of any type, framed and checksummed, for ``Wal.add_record``."""
    return _record(kind, payload)


def entry_record(index: int, data: bytes) -> bytes:
    return _record(ENTRY, _U64.pack(index) + data)


def state_record(term: int, index: int) -> bytes:
    return _record(STATE, _STATE.pack(term, index))


def metadata_record(metadata: dict[str, Any]) -> bytes:
    return _record(METADATA, json.dumps(metadata, sort_keys=True).encode())


# the data and the size, not the times: what etcd's WAL syncs with too
_datasync = getattr(os, "fdatasync", os.fsync)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Wal:
    """An open log, appending to its last segment. ``add_*`` may be called from the event
    loop while ``flush`` runs in a worker thread; one flush runs at a time."""

    def __init__(
        self, folder: Path, metadata: dict[str, Any], segments: list[Path], *, fsync: bool
    ) -> None:
        self.folder = folder
        self.metadata = metadata
        self._segments = segments  # in order; the last one is open for appending
        self._fsync = fsync
        self._buffer: list[bytes] = []
        self._buffer_last = 0  # the last index in the buffer
        self._lock = threading.Lock()
        self._file = _append(segments[-1])
        self._size = self._file.tell()
        self._cut_requested = False
        self.broken: str | None = None  # why appends are refused, after a failed rollback

    # ---- creating and opening ----

    @classmethod
    def create(
        cls, folder: Path, metadata: dict[str, Any], term: int, index: int, *, fsync: bool
    ) -> Wal:
        """A new log whose first record after the metadata is the raft state."""
        return cls.create_with(folder, metadata, state_record(term, index), index + 1, fsync=fsync)

    @classmethod
    def create_with(
        cls, folder: Path, metadata: dict[str, Any], first: bytes, first_index: int, *, fsync: bool
    ) -> Wal:
        """A new log whose first records after the metadata are ``first``, made whole
        (written aside, synced, renamed) so that a crash leaves no log or this one."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / _name(0, first_index)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(metadata_record(metadata) + first)
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(tmp, path)
        if fsync:
            fsync_dir(folder)
        return cls(folder, metadata, [path], fsync=fsync)

    @classmethod
    def open(cls, folder: Path, after_index: int, *, fsync: bool) -> tuple[Wal, Replayed]:
        """Read every segment back (entries after ``after_index`` are returned), cut a
        torn tail off the last one, and open the log for appending."""
        segments = read_segments(folder)
        replayed = Replayed(segments.metadata)
        expected = 0  # the next entry index, once known
        for path, records in zip(segments.paths, segments.records, strict=True):
            for kind, payload, offset in records:
                if kind == STATE:
                    term, index = _STATE.unpack(payload)
                    if expected and index + 1 < expected:
                        raise WalError(f"{path}: offset {offset}: state index {index} goes back")
                    replayed.term, replayed.last_index, expected = term, index, index + 1
                elif kind == ENTRY:
                    (index,) = _U64.unpack_from(payload)
                    if expected and index != expected:
                        raise WalError(
                            f"{path}: offset {offset}: entry {index} where {expected} was due"
                        )
                    expected = index + 1
                    replayed.last_index = index
                    if index > after_index:
                        replayed.entries.append((index, payload[_U64.size :]))
                else:
                    raise WalError(f"{path}: offset {offset}: unknown record type {kind}")
        replayed.cut_bytes = segments.cut_torn_tail(fsync=fsync)
        return cls(folder, replayed.metadata, segments.paths, fsync=fsync), replayed

    # ---- appending ----

    def add_entry(self, index: int, data: bytes) -> None:
        record = entry_record(index, data)
        with self._lock:
            self._buffer.append(record)
            self._buffer_last = index

    def add_state(self, term: int, index: int) -> None:
        record = state_record(term, index)
        with self._lock:
            self._buffer.append(record)
            self._buffer_last = index

    def add_record(self, record: bytes, index: int) -> None:
        """Add a record made by ``make_record``; ``index`` is what ``flush`` returns."""
        with self._lock:
            self._buffer.append(record)
            self._buffer_last = index

    @property
    def buffered(self) -> int:
        """How many records wait for the next flush."""
        with self._lock:
            return len(self._buffer)

    def discard_buffer(self) -> None:
        """Drop what waits for a flush (after a failed one: those entries are refused)."""
        with self._lock:
            self._buffer = []

    def request_cut(self) -> None:
        """Start a new segment with the next flush (the old ones can then be released)."""
        self._cut_requested = True

    def flush(self) -> int:
        """Write what was added, and fsync it; return the last index now durable.

        On failure (a full disk, a file-size limit) the segment is cut back to its size
        before the batch, so the log holds exactly what was flushed before, and the
        error is raised: none of the batch is durable.
        """
        with self._lock:
            batch, self._buffer = self._buffer, []
            last = self._buffer_last
        if self.broken is not None:
            raise WalError(self.broken)
        if not batch:
            return last
        if self._cut_requested or self._size >= SEGMENT_BYTES:
            self._cut(first_index=_first_index(batch[0]))
        data = b"".join(batch)
        try:
            _write_all(self._file, data)
            if self._fsync:
                with WAL_FSYNC.timing():
                    _datasync(self._file.fileno())
        except OSError as err:
            self._roll_back(err)
            raise WalError(f"{self._segments[-1]}: cannot write the log: {err}") from err
        self._size += len(data)
        return last

    def _roll_back(self, err: OSError) -> None:
        try:
            self._file.truncate(self._size)
            self._file.seek(self._size)
            os.fsync(self._file.fileno())
        except OSError as again:
            self.broken = (
                f"{self._segments[-1]}: the log could not be written ({err}) nor cut back "
                f"({again}): refusing writes"
            )

    def _cut(self, first_index: int) -> None:
        seq, _ = _parse_name(self._segments[-1])
        path = self.folder / _name(seq + 1, first_index)
        record = metadata_record(self.metadata)
        tmp = path.with_suffix(".tmp")  # whole or absent: a crash leaves no empty segment
        with open(tmp, "wb") as out:
            out.write(record)
            out.flush()
            if self._fsync:
                os.fsync(out.fileno())
        os.replace(tmp, path)
        if self._fsync:
            fsync_dir(self.folder)
        self._file.close()
        self._segments.append(path)
        self._file = _append(path)
        self._size = len(record)
        self._cut_requested = False

    def release(self, up_to: int) -> list[Path]:
        """Delete the segments whose entries all have indexes up to ``up_to`` (a snapshot
        holds them now); return them."""
        count = 0
        while count + 1 < len(self._segments):
            _, next_first = _parse_name(self._segments[count + 1])
            if next_first > up_to + 1:
                break
            count += 1
        return self.release_first(count)

    def release_first(self, count: int) -> list[Path]:
        """Delete the first ``count`` segments (never the one open for appending), oldest
        first, so that a crash leaves the log without a prefix, never with a hole."""
        released: list[Path] = []
        while len(released) < count and len(self._segments) > 1:
            path = self._segments.pop(0)
            path.unlink()
            released.append(path)
        if released and self._fsync:
            fsync_dir(self.folder)
        return released

    @property
    def segments(self) -> list[Path]:
        return list(self._segments)

    def close(self) -> None:
        with self._lock:
            self._buffer = []
        self._file.close()


def _append(path: Path) -> io.FileIO:
    """A segment opened to append, unbuffered: a write that fails leaves no bytes
    behind in a buffer for a later flush to add after the rollback."""
    return io.FileIO(path, "a")


def _write_all(file: io.FileIO, data: bytes) -> None:
    """Write all of ``data``; a short write (a disk or file-size limit reached) is
    followed by another, which raises the limit's error."""
    view = memoryview(data)
    while view:
        written = file.write(view)
        if not written:
            raise OSError(errno.EIO, "the log file took no bytes")
        view = view[written:]


def _first_index(record: bytes) -> int:
    kind = record[_HEADER.size]
    payload = record[_HEADER.size + 1 :]
    if kind == STATE:
        return int(_STATE.unpack(payload)[1]) + 1
    if kind in (HARD_STATE, SNAPSHOT):  # entries go on after its commit, its index
        return int(_U64.unpack_from(payload)[0]) + 1
    return int(_U64.unpack_from(payload)[0])


def _read_records(
    path: Path, data: bytes, *, tail_may_tear: bool
) -> tuple[list[tuple[int, bytes, int]], int]:
    """(type, payload, offset) of each good record, and the end of the last good one.

    A bad record ends the reading. At the very end of the last segment it is a torn
    write (cut off by the caller); anywhere else it is damage (an error)."""
    records: list[tuple[int, bytes, int]] = []
    pos = 0
    while pos < len(data):
        problem = None
        if pos + _HEADER.size > len(data):
            problem = "a record header cut short"
        else:
            length, crc = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if length == 0 or length > _MAX_RECORD:
                problem = f"an impossible record length {length}"
            elif end > len(data):
                problem = "a record cut short"
            else:
                body = data[pos + _HEADER.size : end]
                if google_crc32c.value(body) != crc:
                    problem = "a record whose checksum does not match"
        if problem is None:
            records.append((body[0], body[1:], pos))
            pos = end
            continue
        if tail_may_tear and _torn(data, pos):
            return records, pos
        raise WalError(f"{path}: offset {pos}: {problem} (the log is damaged)")
    return records, pos


_SECTOR = 512


def _torn(data: bytes, pos: int) -> bool:
    """Whether the bad record at ``pos`` of the last segment is the torn last write.

    As etcd decides: a write a crash stopped is cut short by the end of the file, or
    has sectors that never reached the disk (all zeros). A full record with a bad
    checksum and no zeroed sector is damage.
    """
    if pos + _HEADER.size > len(data):
        return True
    length = _HEADER.unpack_from(data, pos)[0]
    end = pos + _HEADER.size + length
    if length == 0 or length > _MAX_RECORD:
        return not data[pos:].strip(b"\x00")
    if end > len(data):
        return True
    start = pos - pos % _SECTOR
    zeroed = any(
        not data[at : min(at + _SECTOR, end)].strip(b"\x00") for at in range(start, end, _SECTOR)
    )
    return zeroed  # what follows in the segment belongs to the same unfinished batch
