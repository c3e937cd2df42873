"""What a Raft member keeps across a restart, and the in-memory keeper of it.

The driver persists each ``Ready`` with ``save`` before it sends the Ready's messages, and
``compact`` s the log after it took a snapshot of its applied state; at a (re)start
``load`` gives back what was persisted. ``MemoryRaftStorage`` keeps it in the process (a
member "killed" in-process restarts from it); ``disk.DiskRaftStorage`` keeps it in a data
directory. Both follow the same rules, checked here once (``LogShape``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..raft import Entry, HardState, Snapshot


@dataclass(frozen=True)
class Persisted:
    """What a member restarts from."""

    hard_state: HardState
    snapshot: Snapshot | None  # its data is the state machine (an etcd db file's bytes)
    entries: tuple[Entry, ...]  # after the snapshot's index, in order
    metadata: dict[str, Any]  # the member's identity as given at creation (JSON values)


class RaftStorage(Protocol):
    def load(self) -> Persisted:
        """What was persisted (call it at a start, with no save under way)."""

    async def save(
        self, snapshot: Snapshot | None, hard_state: HardState | None, entries: Sequence[Entry]
    ) -> None:
        """Persist a Ready's part, durably when it returns: the snapshot first (it replaces
        the whole log), then the hard state, then the entries (replacing the persisted ones
        from ``entries[0].index`` on). Concurrent saves are persisted in the order they
        start. A ValueError (nothing persisted) for a snapshot not newer than the last one
        or entries that would leave a gap or reach into the snapshot."""

    async def compact(self, snapshot: Snapshot) -> None:
        """The member took this snapshot of its applied state: keep it (durably and
        atomically) in place of the entries up to its index. One not newer than the
        persisted snapshot (a newer one was received meanwhile) is ignored."""

    async def close(self) -> None:
        """Stop; what was saved stays."""


class LogShape:
    """Where the persisted log stands (its snapshot's index, its last index), and the one
    check of what may be saved next: both storages keep their log in this shape."""

    def __init__(self, snapshot_index: int = 0, last_index: int = 0) -> None:
        self.snapshot_index = snapshot_index
        self.last_index = last_index

    def check_save(self, snapshot: Snapshot | None, entries: Sequence[Entry]) -> None:
        base, last = self.snapshot_index, self.last_index
        if snapshot is not None:
            if snapshot.index <= base:
                raise ValueError(f"snapshot {snapshot.index} is not newer than {base}")
            base = last = snapshot.index
        if entries:
            first = entries[0].index
            if not base < first <= last + 1:
                raise ValueError(f"entries from {first}: the log holds ({base}, {last}]")
            for before, after in itertools.pairwise(entries):
                if after.index != before.index + 1:
                    raise ValueError(f"entry {after.index} follows {before.index}")

    def saved(self, snapshot: Snapshot | None, entries: Sequence[Entry]) -> None:
        if snapshot is not None:
            self.snapshot_index = self.last_index = snapshot.index
        if entries:
            self.last_index = entries[-1].index

    def compacts(self, snapshot: Snapshot) -> bool:
        """Whether this snapshot is newer than the persisted one (else it is ignored)."""
        return snapshot.index > self.snapshot_index

    def compacted(self, snapshot: Snapshot) -> None:
        self.snapshot_index = snapshot.index
        self.last_index = max(self.last_index, snapshot.index)


def as_json(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata as it reads back from disk (tuples become lists): the same for both."""
    copy: dict[str, Any] = json.loads(json.dumps(metadata, sort_keys=True))
    return copy


class MemoryRaftStorage:
    """A member's persisted state in memory: it outlives the member (an in-process "kill"
    drops the member, not this). Entries and snapshots are kept by reference (they are
    frozen): a save copies nothing heavy."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        self._metadata = as_json(metadata)
        self._hard_state = HardState()
        self._snapshot: Snapshot | None = None
        self._entries: list[Entry] = []
        self._shape = LogShape()

    def load(self) -> Persisted:
        return Persisted(self._hard_state, self._snapshot, tuple(self._entries), self._metadata)

    async def save(
        self, snapshot: Snapshot | None, hard_state: HardState | None, entries: Sequence[Entry]
    ) -> None:
        self._shape.check_save(snapshot, entries)
        if snapshot is not None:
            self._snapshot, self._entries = snapshot, []
        if hard_state is not None:
            self._hard_state = hard_state
        if entries:
            first = self._shape.snapshot_index + 1 if snapshot is None else snapshot.index + 1
            del self._entries[entries[0].index - first :]
            self._entries.extend(entries)
        self._shape.saved(snapshot, entries)

    async def compact(self, snapshot: Snapshot) -> None:
        if not self._shape.compacts(snapshot):
            return
        keep = [entry for entry in self._entries if entry.index > snapshot.index]
        self._snapshot, self._entries = snapshot, keep
        self._shape.compacted(snapshot)

    async def close(self) -> None:
        return None
