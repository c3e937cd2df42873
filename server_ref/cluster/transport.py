"""What the Raft driver may rely on from the peer network, whatever carries it.

Raft tolerates lost messages and retries on its own, so sending is best effort and never
waits: a message to a peer that is down, or whose queue is full, is dropped. What Raft
cannot tolerate as easily is reordering, so messages to one peer keep their order.
Requests (a lease renewal forwarded to the leader, the membership asked for by a joining
member) are answered, or fail with a typed error.
"""

from __future__ import annotations

from typing import Protocol

from ..raft.messages import Message
from .errors import PeerProtocolError, PeerRequestError, PeerUnreachableError, PeerUrlError

__all__ = [
    "PeerHandler",
    "PeerProtocolError",
    "PeerRequestError",
    "PeerUnreachableError",
    "PeerUrlError",
    "Transport",
]


class PeerHandler(Protocol):
    """The member behind a transport: what arrives from its peers is handed to it."""

    def receive(self, message: Message) -> None:
        """A Raft message for this member, called on the member's event loop."""

    async def answer(self, kind: str, body: bytes) -> bytes:
        """The answer to a peer's request; a PeerRequestError raised here is raised again,
        with its text, by the asker."""


class Transport(Protocol):
    def send(self, message: Message) -> None:
        """Best effort: never blocks, keeps the order of messages to one peer, drops the
        message when the peer's queue is full or the peer is unreachable."""

    async def request(self, to: int, kind: str, body: bytes, timeout: float) -> bytes:
        """Member ``to``'s answer; raises PeerUnreachableError, PeerRequestError or
        TimeoutError."""

    def set_peers(self, peers: dict[int, tuple[str, ...]]) -> None:
        """The other members by id, with their peer URLs; called again on every change."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...
