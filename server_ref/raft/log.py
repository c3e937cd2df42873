"""A node's log in memory, and how far its driver has made it durable.

Index 0 holds a sentinel of term 0, so that "the entry before the first" always exists.
Nothing is compacted yet: every entry stays in memory (snapshots are a later step).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .messages import Entry


class LogConflictError(AssertionError):
    """A leader asked to rewrite committed entries: a Raft invariant is broken."""


class RaftLog:
    def __init__(self, entries: Iterable[Entry] = (), commit: int = 0, applied: int = 0) -> None:
        self._entries: list[Entry] = [Entry(term=0, index=0)]
        for entry in entries:
            if entry.index != len(self._entries):
                raise ValueError(f"entries must be contiguous from 1, got index {entry.index}")
            self._entries.append(entry)
        self.stable = self.last_index  # everything handed in was read back from disk
        if not applied <= commit <= self.last_index:
            raise ValueError(f"need applied {applied} <= commit {commit} <= {self.last_index}")
        self.committed = commit
        self.applied = applied

    @property
    def last_index(self) -> int:
        return len(self._entries) - 1

    @property
    def last_term(self) -> int:
        return self._entries[-1].term

    def term(self, index: int) -> int | None:
        """The term of the entry at index, or None past the end."""
        return self._entries[index].term if 0 <= index <= self.last_index else None

    def entries(self, first: int, limit: int | None = None) -> tuple[Entry, ...]:
        stop = len(self._entries) if limit is None else min(len(self._entries), first + limit)
        return tuple(self._entries[first:stop])

    def unstable(self) -> tuple[Entry, ...]:
        return self.entries(self.stable + 1)

    def to_apply(self) -> tuple[Entry, ...]:
        return tuple(self._entries[self.applied + 1 : self.committed + 1])

    def is_up_to_date(self, last_term: int, last_index: int) -> bool:
        """Would a candidate with this last entry hold every entry we could have committed?"""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def append(self, entries: Sequence[Entry]) -> None:
        """Add entries after the last one (a leader's own proposals)."""
        for entry in entries:
            assert entry.index == len(self._entries), "a leader appends at the end"
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
                del self._entries[entry.index :]
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
        while index > 0 and (self.term(index) or 0) > term:
            index -= 1
        return index

    def stable_to(self, index: int, term: int) -> None:
        """The driver made entries up to index durable, if that entry is still the one it
        wrote (a conflicting append may have replaced it in the meantime)."""
        if self.term(index) == term and index > self.stable:
            self.stable = index
