"""The data directory: where a member keeps its log and its last snapshot.

    DIR/etcd3py-server-ref     "format <n>": whose directory this is, in which format
    DIR/member/wal/*.wal       the write-ahead log (wal.py)
    DIR/member/snap/db         the last snapshot: a bbolt file in etcd 3.5's schema

The layout follows etcd's (member/wal, member/snap/db), but the log is server_ref's
own, so a directory of real etcd is recognised and refused rather than misread, and a
directory from a newer server_ref is refused rather than half understood.
"""

from __future__ import annotations

import os
from pathlib import Path

from .wal import fsync_dir

FORMAT = 1
MARKER = "etcd3py-server-ref"


class DataDirError(Exception):
    """The directory cannot be used; the message names it and says why."""


class DataDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.marker = self.path / MARKER
        self.member = self.path / "member"
        self.wal = self.member / "wal"
        self.snap = self.member / "snap"
        self.db = self.snap / "db"

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
            except (OSError, ValueError, IndexError) as err:
                raise DataDirError(f"{self.marker}: unreadable ({err})") from None
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
            tmp.write_text(f"format {FORMAT}\n")
            os.replace(tmp, self.marker)
            if fsync:
                fsync_dir(self.path)
        except OSError as err:
            raise DataDirError(f"data dir {self.path}: cannot be created: {err}") from None

    def write_db(self, data: bytes, *, fsync: bool) -> None:
        """Replace the snapshot file atomically: a crash leaves the old one or the new."""
        tmp = self.db.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(tmp, self.db)
        if fsync:
            fsync_dir(self.snap)

    def read_db(self) -> bytes | None:
        return self.db.read_bytes() if self.db.exists() else None
