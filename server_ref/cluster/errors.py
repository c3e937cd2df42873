"""What can go wrong between members, as types the Raft driver can tell apart."""

from __future__ import annotations


class PeerError(Exception):
    """Base of the peer protocol's errors."""


class PeerProtocolError(PeerError):
    """Bytes from a peer that are not the peer protocol: the text names what is wrong."""


class PeerUnreachableError(PeerError):
    """No connection to the peer (down, refused us, or gone while a request waited)."""


class PeerRequestError(PeerError):
    """The peer answered a request with an error; raised by its handler, re-raised by the
    asker with the same text."""


class PeerUrlError(PeerError, ValueError):
    """A peer URL the transport cannot use (not http://host:port)."""
