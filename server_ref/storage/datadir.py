"""The data directory: where a member keeps its log and its last snapshot.

    DIR/etcd3py-server-ref     "format <n>": whose directory this is, in which format
    DIR/member/wal/*.wal       the write-ahead log (wal.py)
    DIR/member/snap/db         the last snapshot: a bbolt file in etcd 3.5's schema

The layout follows etcd's (member/wal, member/snap/db), but the log is server_ref's
own, so a directory of real etcd is recognised and refused rather than misread, and a
directory from a newer server_ref is refused rather than half understood.

A Raft member's directory (``cluster/disk.py``) has the same layout and its marker says
"format 1 raft": its log is another kind, not a newer version of the single member's, so
each reader refuses the other's directory by name, and a single member's directory keeps
its marker as it always was ("format 1").
"""

from __future__ import annotations

import os
from pathlib import Path

from .wal import fsync_dir

FORMAT = 1
MARKER = "etcd3py-server-ref"
SINGLE, RAFT = "", "raft"  # the kinds of member directory: the marker's third word


class DataDirError(Exception):
    """The directory cannot be used; the message names it and says why."""


class DataDir:
    def __init__(self, path: str | Path, kind: str = SINGLE) -> None:
        self.path = Path(path)
        self.kind = kind
        self.marker = self.path / MARKER
        self.member = self.path / "member"
        self.wal = self.member / "wal"
        self.snap = self.member / "snap"
        self.db = self.snap / "db"
        self.previous_db = self.snap / "db.prev"  # kept while a newer db is not yet recorded

    def exists(self) -> bool:
        """Whether it holds a member's data already (else ``create`` makes it)."""
        self._check()
        return self.marker.exists()

    def _check(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise DataDirError(f"data dir {self.path}: not a directory")
        if self.marker.exists():
            try:
                text = self.marker.read_text()
                found = int(text.split()[1]) if text.startswith("format ") else -1
                kind = " ".join(text.split()[2:])
            except (OSError, ValueError, IndexError) as err:
                raise DataDirError(f"{self.marker}: unreadable ({err})") from None
            if found >= 1 and kind != self.kind:
                raise DataDirError(
                    f"{self.marker}: the data of a {_KIND_NAMES.get(kind, repr(kind))}, "
                    f"not of a {_KIND_NAMES[self.kind]}: nothing was changed"
                )
            if found > FORMAT:
                raise DataDirError(
                    f"{self.marker}: written by a newer server_ref (data format {found}; "
                    f"this one reads format {FORMAT}): nothing was changed"
                )
            if found < 1:
                raise DataDirError(f"{self.marker}: not a server_ref format line: {text!r}")
        elif self.member.exists():
            raise DataDirError(
                f"data dir {self.path} holds a member/ folder but no {MARKER} file: it looks "
                "like a real etcd's data directory, whose log server_ref cannot read; take a "
                "snapshot of it (etcdctl snapshot save) and restore that with "
                "python -m etcd3py.server_ref snapshot restore"
            )

    def create(self, *, fsync: bool) -> None:
        """Make the folders and the marker (the log is made by its owner)."""
        try:
            self.wal.mkdir(parents=True, exist_ok=True)
            self.snap.mkdir(parents=True, exist_ok=True)
            tmp = self.marker.with_suffix(".tmp")
            tmp.write_text(f"format {FORMAT} {self.kind}".rstrip() + "\n")
            os.replace(tmp, self.marker)
            if fsync:
                fsync_dir(self.path)
        except OSError as err:
            raise DataDirError(f"data dir {self.path}: cannot be created: {err}") from None

    def write_db(self, data: bytes, *, fsync: bool) -> None:
        """Replace the snapshot file atomically: a crash leaves the old one or the new."""
        self.install_db(self.stage_db(data, fsync=fsync), fsync=fsync)

    def stage_db(self, data: bytes, *, fsync: bool, name: str = "db.tmp") -> Path:
        """Write a snapshot file aside (``install_db`` puts it in place); return its path."""
        tmp = self.snap / name
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        return tmp

    def install_db(self, staged: Path, *, fsync: bool, keep_previous: bool = False) -> None:
        """Make a staged file the snapshot file. ``keep_previous``: the current one becomes
        ``previous_db`` first, for the owner to fall back on until the new one is recorded
        (a crash in between leaves the old one there, or both)."""
        if keep_previous and self.db.exists():
            os.replace(self.db, self.previous_db)
            if fsync:
                fsync_dir(self.snap)
        os.replace(staged, self.db)
        if fsync:
            fsync_dir(self.snap)

    def read_db(self) -> bytes | None:
        return self.db.read_bytes() if self.db.exists() else None


_KIND_NAMES = {SINGLE: "single server_ref member", RAFT: "server_ref Raft member"}
