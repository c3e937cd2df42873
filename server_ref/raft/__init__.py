"""Raft as a pure, tick-driven state machine (the shape of etcd-io/raft), for the server to
drive and for tests to run under simulated schedules. Imports nothing else of server_ref."""

from .messages import (
    NO_NODE,
    ConfChange,
    ConfChangeType,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    ReadState,
    Snapshot,
    decode_conf_change,
    encode_conf_change,
)
from .node import Config, ProposalDroppedError, RaftNode, Ready, Role
from .progress import Progress, ProgressState

__all__ = [
    "NO_NODE",
    "ConfChange",
    "ConfChangeType",
    "Config",
    "Entry",
    "EntryKind",
    "HardState",
    "Message",
    "MessageType",
    "Progress",
    "ProgressState",
    "ProposalDroppedError",
    "RaftNode",
    "ReadState",
    "Ready",
    "Role",
    "Snapshot",
    "decode_conf_change",
    "encode_conf_change",
]
