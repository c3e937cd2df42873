"""What Raft nodes tell each other and what a node asks its driver to persist.

Plain frozen dataclasses: the core never serialises them; a driver that carries them over
a wire chooses its own encoding.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

NO_NODE = 0  # node ids start at 1; 0 means "nobody" (no leader, no vote)


class MessageType(enum.Enum):
    PROPOSE = "propose"  # local or forwarded by a follower to its leader
    APPEND = "append"
    APPEND_RESPONSE = "append_response"
    HEARTBEAT = "heartbeat"
    HEARTBEAT_RESPONSE = "heartbeat_response"
    PRE_VOTE = "pre_vote"
    PRE_VOTE_RESPONSE = "pre_vote_response"
    VOTE = "vote"
    VOTE_RESPONSE = "vote_response"
    TRANSFER_LEADER = "transfer_leader"  # sender field names the transferee
    TIMEOUT_NOW = "timeout_now"  # leader to transferee: campaign at once
    SNAPSHOT = "snapshot"  # leader to a follower whose next entry it compacted away
    READ_INDEX = "read_index"  # local, or forwarded by a follower: `context` names the read
    READ_INDEX_RESPONSE = "read_index_response"  # leader to follower: `index`, `context`


VOTE_REQUESTS = frozenset({MessageType.PRE_VOTE, MessageType.VOTE})
FROM_LEADER = frozenset({MessageType.APPEND, MessageType.HEARTBEAT, MessageType.SNAPSHOT})


class EntryKind(enum.Enum):
    NORMAL = 0
    CONF_CHANGE = 1  # `data` is a ConfChange's encoding


@dataclass(frozen=True)
class Entry:
    term: int
    index: int
    data: bytes = b""  # empty NORMAL: the no-op a new leader appends to commit its predecessors
    kind: EntryKind = EntryKind.NORMAL


class ConfChangeType(enum.Enum):
    """etcd-io/raft's ConfChangeType numbers."""

    ADD_NODE = 0
    REMOVE_NODE = 1
    UPDATE_NODE = 2
    ADD_LEARNER = 3


@dataclass(frozen=True)
class ConfChange:
    """One membership change, replicated as a CONF_CHANGE entry and applied by the driver
    (`RaftNode.apply_conf_change`) once committed; `context` is the driver's (etcd puts the
    member's attributes there). Adding a learner as a node promotes it."""

    type: ConfChangeType
    node_id: int
    context: bytes = b""


_CONF_CHANGE_HEAD = struct.Struct(">BQ")  # type, node id; the context follows


def encode_conf_change(change: ConfChange) -> bytes:
    """A CONF_CHANGE entry's data: one byte of type, eight of node id, then the context."""
    return _CONF_CHANGE_HEAD.pack(change.type.value, change.node_id) + change.context


def decode_conf_change(data: bytes) -> ConfChange:
    kind, node_id = _CONF_CHANGE_HEAD.unpack_from(data)
    context = data[_CONF_CHANGE_HEAD.size :]
    return ConfChange(type=ConfChangeType(kind), node_id=node_id, context=context)


@dataclass(frozen=True)
class ReadState:
    """A linearizable read may be served once the state machine applied `index`."""

    index: int
    context: bytes


@dataclass(frozen=True)
class Snapshot:
    """The driver's state machine as of `index` (opaque `data`), standing in for every entry
    up to it; `term` is that entry's, `voters` and `learners` the membership as of it."""

    index: int = 0
    term: int = 0
    voters: frozenset[int] = frozenset()
    data: bytes = b""
    learners: frozenset[int] = frozenset()


@dataclass(frozen=True)
class HardState:
    """What must survive a crash, besides the log: a node never votes twice in a term."""

    term: int = 0
    vote: int = NO_NODE
    commit: int = 0


@dataclass(frozen=True)
class Message:
    type: MessageType
    to: int
    sender: int
    term: int = 0  # 0: a local message, not yet stamped with a term
    log_term: int = 0  # APPEND: term at index; votes: last log term; rejects: hint's term
    index: int = 0  # APPEND: entry before `entries`; votes: last log index
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0  # a rejecting follower's guess of where its log may match
    transfer: bool = False  # a vote asked for by a leadership transfer passes leases
    snapshot: Snapshot | None = None  # SNAPSHOT only
    context: bytes = b""  # READ_INDEX(_RESPONSE), and HEARTBEAT(_RESPONSE) confirming one
