"""A node's log in memory, and how far its driver has made it durable.

Entries up to `offset` were compacted into `snapshot`; a sentinel at `offset` keeps that
snapshot's term, so that "the entry before the first" always has a term (index 0, term 0
when nothing was compacted).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .messages import Entry, Snapshot


class LogConflictError(AssertionError):
    """A leader asked to rewrite committed entries: a Raft invariant is broken."""


class RaftLog:
    def __init__(
        self,
        entries: Iterable[Entry] = (),
        commit: int = 0,
        applied: int = 0,
        snapshot: Snapshot | None = None,
    ) -> None:
        self.snapshot = snapshot or Snapshot()
        self._entries: list[Entry] = [Entry(term=self.snapshot.term, index=self.snapshot.index)]
        for entry in entries:
            if entry.index != self.last_index + 1:
                raise ValueError(f"entries must follow on from {self.offset}, got {entry.index}")
            self._entries.append(entry)
        self.stable = self.last_index  # everything handed in was read back from disk
        commit, applied = max(commit, self.offset), max(applied, self.offset)
        if not applied <= commit <= self.last_index:
            raise ValueError(f"need applied {applied} <= commit {commit} <= {self.last_index}")
        self.committed = commit
        self.applied = applied
        self.pending_snapshot: Snapshot | None = None  # received, not yet persisted

    @property
    def offset(self) -> int:
        """The last compacted index (the snapshot's)."""
        return self._entries[0].index

    @property
    def first_index(self) -> int:
        return self.offset + 1

    @property
    def last_index(self) -> int:
        return self.offset + len(self._entries) - 1

    @property
    def last_term(self) -> int:
        return self._entries[-1].term

    def term(self, index: int) -> int | None:
        """The term of the entry at index, or None when compacted away or past the end."""
        if self.offset <= index <= self.last_index:
            return self._entries[index - self.offset].term
        return None

    def entries(
        self, first: int, limit: int | None = None, max_bytes: int | None = None
    ) -> tuple[Entry, ...]:
        """Entries from `first` on: at most `limit` of them, and no more than `max_bytes` of
        data in all, except that the first is always given (etcd's MaxSizePerMsg)."""
        assert first > self.offset, f"entries from {first} were compacted up to {self.offset}"
        start = first - self.offset
        stop = len(self._entries) if limit is None else min(len(self._entries), start + limit)
        if max_bytes is not None:
            size = 0
            for at in range(start, stop):
                size += len(self._entries[at].data)
                if size > max_bytes and at > start:
                    stop = at
                    break
        return tuple(self._entries[start:stop])

    def unstable(self) -> tuple[Entry, ...]:
        return self.entries(self.stable + 1)

    def to_apply(self) -> tuple[Entry, ...]:
        return tuple(
            self._entries[self.applied + 1 - self.offset : self.committed + 1 - self.offset]
        )

    def is_up_to_date(self, last_term: int, last_index: int) -> bool:
        """Would a candidate with this last entry hold every entry we could have committed?"""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def append(self, entries: Sequence[Entry]) -> None:
        """Add entries after the last one (a leader's own proposals)."""
        for entry in entries:
            assert entry.index == self.last_index + 1, "a leader appends at the end"
            self._entries.append(entry)

    def try_append(
        self, prev_index: int, prev_term: int, leader_commit: int, entries: Sequence[Entry]
    ) -> int | None:
        """A follower's side of APPEND: the index of the last entry the message vouches for,
        or None when our log does not hold (prev_index, prev_term)."""
        if self.term(prev_index) != prev_term:
            return None
        last_new = prev_index + len(entries)
        for entry in entries:
            mine = self.term(entry.index)
            if mine == entry.term:
                continue  # already here (a duplicate or an older, shorter message)
            if entry.index <= self.committed:
                raise LogConflictError(f"entry {entry.index} conflicts with the committed log")
            if mine is not None:
                del self._entries[entry.index - self.offset :]
                self.stable = min(self.stable, entry.index - 1)
            self.append(entries[entry.index - entries[0].index :])
            break
        self.commit_to(min(leader_commit, last_new))
        return last_new

    def commit_to(self, index: int) -> bool:
        """Raise the commit index (never lower it); True when it moved."""
        if index <= self.committed:
            return False
        if index > self.last_index:
            raise LogConflictError(f"commit {index} is past the last index {self.last_index}")
        self.committed = index
        return True

    def conflict_hint(self, index: int, term: int) -> int:
        """The last index at or below `index` whose term is at most `term`: entries above it
        cannot match a log whose entry at `index` has `term`, so a probe may skip them."""
        index = min(index, self.last_index)
        while index > self.offset and (self.term(index) or 0) > term:
            index -= 1
        return index

    def stable_to(self, index: int, term: int) -> None:
        """The driver made entries up to index durable, if that entry is still the one it
        wrote (a conflicting append may have replaced it in the meantime)."""
        if self.term(index) == term and index > self.stable:
            self.stable = index

    def compact(self, snapshot: Snapshot) -> None:
        """Drop the entries the driver's snapshot (of applied state) now stands for."""
        if not self.offset < snapshot.index <= self.applied:
            raise ValueError(
                f"can compact only ({self.offset}, {self.applied}], not {snapshot.index}"
            )
        assert self.term(snapshot.index) == snapshot.term
        del self._entries[: snapshot.index - self.offset]
        self.snapshot = snapshot
        self.stable = max(self.stable, snapshot.index)

    def restore(self, snapshot: Snapshot) -> bool:
        """A follower's side of SNAPSHOT: True when the log was replaced by it. A snapshot
        of what we committed already is stale; one whose last entry we hold only moves
        our commit (the entries after it may still be good)."""
        if snapshot.index <= self.committed:
            return False
        if self.term(snapshot.index) == snapshot.term:
            self.commit_to(snapshot.index)
            return False
        self._entries = [Entry(term=snapshot.term, index=snapshot.index)]
        self.snapshot = self.pending_snapshot = snapshot
        self.committed = self.applied = self.stable = snapshot.index
        return True
