"""Raft as a pure, tick-driven state machine (the shape of etcd-io/raft), for the server to
drive and for tests to run under simulated schedules. Imports nothing else of server_ref."""

from .messages import NO_NODE, Entry, HardState, Message, MessageType, Snapshot
from .node import Config, ProposalDroppedError, RaftNode, Ready, Role
from .progress import Progress, ProgressState

__all__ = [
    "NO_NODE",
    "Config",
    "Entry",
    "HardState",
    "Message",
    "MessageType",
    "Progress",
    "ProgressState",
    "ProposalDroppedError",
    "RaftNode",
    "Ready",
    "Role",
    "Snapshot",
]
