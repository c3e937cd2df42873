"""A leader's view of one follower: how much of its log matches, and how much may be in flight.

A follower starts in PROBE: one APPEND at a time, moving `next` back on each reject until the
logs meet. Once an append is acknowledged it goes to REPLICATE: appends stream optimistically,
at most `max_inflight` unacknowledged ones at once (the flow-control window). A follower that
needs entries the leader compacted away is sent a snapshot and is in SNAPSHOT, sent nothing
more, until it acknowledges the snapshot's index (or the leader takes the snapshot as lost).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass
class Progress:
    next: int
    max_inflight: int
    match: int = 0
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False  # PROBE: an append is out; wait for its answer or a heartbeat
    recent_active: bool = False  # heard from since the last check-quorum
    inflight: deque[int] = field(default_factory=deque)  # last index of each unacked append
    pending_snapshot: int = 0  # SNAPSHOT: the index of the snapshot sent

    def is_paused(self) -> bool:
        if self.state is ProgressState.SNAPSHOT:
            return True
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        return len(self.inflight) >= self.max_inflight

    def become_probe(self) -> None:
        self.state = ProgressState.PROBE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.probe_sent = False
        self.inflight.clear()

    def sent(self, last_index: int) -> None:
        """An APPEND carrying entries up to last_index went out."""
        if self.state is ProgressState.REPLICATE:
            self.next = last_index + 1
            self.inflight.append(last_index)
        else:
            self.probe_sent = True

    def acknowledged(self, index: int) -> bool:
        """The follower holds our log up to index; True when that is news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()
        return updated

    def rejected(self, index: int, hint: int) -> bool:
        """The follower's log does not hold our entry at index; back `next` off to hint + 1.
        False when the reject is stale (answers an append we have already moved past)."""
        if self.state is ProgressState.SNAPSHOT:
            return False  # answers an append sent before the snapshot
        if self.state is ProgressState.REPLICATE:
            if index <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != index:
            return False
        self.next = max(min(index, hint + 1), self.match + 1)
        self.probe_sent = False
        return True
