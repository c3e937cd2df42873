"""The peer protocol's bytes: Raft messages, and the frames that carry them.

Fixed-width little-endian fields packed with `struct`: ids are random 64-bit numbers, so
varints would save little, and one `unpack_from` per record is the fastest decoding
Python offers. Every length is checked before it is trusted; anything that is not the
protocol is a `PeerProtocolError` naming what is wrong and where.

A message: a header (type, flags, the seven numbers, entry count, context length), the
context, each entry (term, index, kind, data length, data), then the snapshot if the
flags say there is one (index, term, voter and learner counts, data length, the voter
and learner ids in ascending order, data). One message has one encoding.
"""

from __future__ import annotations

import enum
import itertools
import struct
from typing import NamedTuple

from ..raft.messages import Entry, EntryKind, Message, MessageType, Snapshot
from .errors import PeerProtocolError

# Wire codes of the message types: append only, never renumber (a running cluster's
# members may be of two versions during an upgrade).
_TYPES: tuple[MessageType, ...] = (
    MessageType.PROPOSE,
    MessageType.APPEND,
    MessageType.APPEND_RESPONSE,
    MessageType.HEARTBEAT,
    MessageType.HEARTBEAT_RESPONSE,
    MessageType.PRE_VOTE,
    MessageType.PRE_VOTE_RESPONSE,
    MessageType.VOTE,
    MessageType.VOTE_RESPONSE,
    MessageType.TRANSFER_LEADER,
    MessageType.TIMEOUT_NOW,
    MessageType.SNAPSHOT,
    MessageType.READ_INDEX,
    MessageType.READ_INDEX_RESPONSE,
)
TYPE_CODES: dict[MessageType, int] = {t: code for code, t in enumerate(_TYPES, 1)}
_TYPE_OF_CODE: dict[int, MessageType] = {code: t for t, code in TYPE_CODES.items()}
_KIND_OF_CODE: dict[int, EntryKind] = {k.value: k for k in EntryKind}

_REJECT, _TRANSFER, _HAS_SNAPSHOT = 1, 2, 4
_ALL_FLAGS = _REJECT | _TRANSFER | _HAS_SNAPSHOT

# type, flags, to, sender, term, log_term, index, commit, reject_hint, entries, context
_HEADER = struct.Struct("<BBQQQQQQQII")
_ENTRY = struct.Struct("<QQBI")  # term, index, kind, data length
_SNAPSHOT = struct.Struct("<QQIIQ")  # index, term, voters, learners, data length
_ID = struct.Struct("<Q")


def encode_message(m: Message) -> bytes:
    """``m`` as bytes; a value the wire cannot hold (a negative or > 64-bit number, an
    unknown type) is a PeerProtocolError."""
    code = TYPE_CODES.get(m.type)
    if code is None:
        raise PeerProtocolError(f"message type {m.type} has no wire code")
    snap = m.snapshot
    flags = (
        (_REJECT if m.reject else 0)
        | (_TRANSFER if m.transfer else 0)
        | (_HAS_SNAPSHOT if snap is not None else 0)
    )
    try:
        parts = [
            _HEADER.pack(
                code,
                flags,
                m.to,
                m.sender,
                m.term,
                m.log_term,
                m.index,
                m.commit,
                m.reject_hint,
                len(m.entries),
                len(m.context),
            ),
            m.context,
        ]
        pack_entry = _ENTRY.pack
        for e in m.entries:
            parts.append(pack_entry(e.term, e.index, e.kind.value, len(e.data)))
            parts.append(e.data)
        if snap is not None:
            voters, learners = sorted(snap.voters), sorted(snap.learners)
            parts.append(
                _SNAPSHOT.pack(snap.index, snap.term, len(voters), len(learners), len(snap.data))
            )
            parts.append(struct.pack(f"<{len(voters)}Q{len(learners)}Q", *voters, *learners))
            parts.append(snap.data)
    except struct.error as e:
        raise PeerProtocolError(f"{m.type.value} message not encodable: {e}") from None
    return b"".join(parts)


def _truncated(what: str, need: int, pos: int, size: int) -> PeerProtocolError:
    return PeerProtocolError(
        f"truncated message: {what} needs {need} bytes at offset {pos}, {size - pos} left"
    )


def decode_message(data: bytes) -> Message:
    """The message ``data`` encodes, all of it; anything else is a PeerProtocolError."""
    size = len(data)
    if size < _HEADER.size:
        raise _truncated("header", _HEADER.size, 0, size)
    (code, flags, to, sender, term, log_term, index, commit, hint, n_entries, n_context) = (
        _HEADER.unpack_from(data)
    )
    mtype = _TYPE_OF_CODE.get(code)
    if mtype is None:
        raise PeerProtocolError(f"unknown message type code {code}")
    if flags & ~_ALL_FLAGS:
        raise PeerProtocolError(f"unknown message flags {flags:#x}")
    pos = _HEADER.size
    if pos + n_context > size:
        raise _truncated("context", n_context, pos, size)
    context = data[pos : pos + n_context]
    pos += n_context
    if n_entries * _ENTRY.size > size - pos:  # checked first: a forged count allocates nothing
        raise _truncated(f"{n_entries} entries", n_entries * _ENTRY.size, pos, size)
    entries = []
    unpack_entry, entry_size = _ENTRY.unpack_from, _ENTRY.size
    for i in range(n_entries):
        if pos + entry_size > size:
            raise _truncated(f"entry {i}", entry_size, pos, size)
        e_term, e_index, e_kind, n_data = unpack_entry(data, pos)
        pos += entry_size
        kind = _KIND_OF_CODE.get(e_kind)
        if kind is None:
            raise PeerProtocolError(f"entry {i}: unknown entry kind {e_kind}")
        if pos + n_data > size:
            raise _truncated(f"entry {i} data", n_data, pos, size)
        entries.append(Entry(e_term, e_index, data[pos : pos + n_data], kind))
        pos += n_data
    snapshot = None
    if flags & _HAS_SNAPSHOT:
        snapshot, pos = _decode_snapshot(data, pos)
    if pos != size:
        raise PeerProtocolError(f"{size - pos} bytes after the end of the message")
    return Message(
        type=mtype,
        to=to,
        sender=sender,
        term=term,
        log_term=log_term,
        index=index,
        entries=tuple(entries),
        commit=commit,
        reject=bool(flags & _REJECT),
        reject_hint=hint,
        transfer=bool(flags & _TRANSFER),
        snapshot=snapshot,
        context=context,
    )


def _decode_snapshot(data: bytes, pos: int) -> tuple[Snapshot, int]:
    size = len(data)
    if pos + _SNAPSHOT.size > size:
        raise _truncated("snapshot header", _SNAPSHOT.size, pos, size)
    index, term, n_voters, n_learners, n_data = _SNAPSHOT.unpack_from(data, pos)
    pos += _SNAPSHOT.size
    n_ids = n_voters + n_learners
    if pos + n_ids * _ID.size > size:
        raise _truncated("snapshot member ids", n_ids * _ID.size, pos, size)
    ids = struct.unpack_from(f"<{n_ids}Q", data, pos)
    pos += n_ids * _ID.size
    if pos + n_data > size:
        raise _truncated("snapshot data", n_data, pos, size)
    voters, learners = ids[:n_voters], ids[n_voters:]
    for what, group in (("voters", voters), ("learners", learners)):
        if any(a >= b for a, b in itertools.pairwise(group)):
            raise PeerProtocolError(f"snapshot {what} not in ascending order, or listed twice")
    snapshot = Snapshot(
        index, term, frozenset(voters), data[pos : pos + n_data], frozenset(learners)
    )
    return snapshot, pos + n_data


# ---- frames: what a connection carries --------------------------------------------------


class FrameKind(enum.IntEnum):
    HELLO = 1  # dialer -> listener, first: who is asking, in which cluster, for whom
    WELCOME = 2  # listener -> dialer: accepted, and who the listener is
    REFUSE = 3  # listener -> dialer: why not (utf-8); the connection then closes
    MESSAGE = 4  # a Raft message (encode_message)
    REQUEST = 5  # request id, kind, body
    ANSWER = 6  # request id, body
    FAILED = 7  # request id, the handler's PeerRequestError text (utf-8)


class Channel(enum.IntEnum):
    """What a dialer opens a connection for."""

    STREAM = 1  # Raft messages (snapshots excepted) and requests, in order
    SNAPSHOT = 2  # snapshot messages only, so that a big one delays nothing else
    REQUEST = 3  # requests only, from a member that may not know the cluster yet


FRAME_HEADER = struct.Struct("<IB")  # length of what follows the kind, kind
MAX_FRAME = 2**32 - 1
MAGIC = b"e3pp"
VERSION = 1
_HELLO = struct.Struct("<4sBBQQQ")  # magic, version, channel, sender, to, cluster id
_WELCOME = struct.Struct("<QQ")  # member id, cluster id
_REQUEST = struct.Struct("<QH")  # request id, kind length
_ANSWER = struct.Struct("<Q")  # request id


def frame(kind: FrameKind, payload: bytes) -> bytes:
    """One frame: its header, then ``payload``."""
    if len(payload) > MAX_FRAME:
        raise PeerProtocolError(f"{kind.name} frame of {len(payload)} bytes is too large")
    return FRAME_HEADER.pack(len(payload), kind) + payload


def frame_kind(code: int) -> FrameKind:
    try:
        return FrameKind(code)
    except ValueError:
        raise PeerProtocolError(f"unknown frame kind {code}") from None


class Hello(NamedTuple):
    channel: Channel
    sender: int  # 0: a member not in the cluster yet
    to: int  # 0: whichever member listens there
    cluster_id: int  # 0: a member that does not know the cluster's id yet


def encode_hello(h: Hello) -> bytes:
    return frame(
        FrameKind.HELLO, _HELLO.pack(MAGIC, VERSION, h.channel, h.sender, h.to, h.cluster_id)
    )


def decode_hello(payload: bytes) -> Hello:
    if len(payload) != _HELLO.size:
        raise PeerProtocolError(f"hello of {len(payload)} bytes, expected {_HELLO.size}")
    magic, version, channel, sender, to, cluster_id = _HELLO.unpack(payload)
    if magic != MAGIC:
        raise PeerProtocolError(f"not the peer protocol (magic {magic!r})")
    if version != VERSION:
        raise PeerProtocolError(f"peer protocol version {version}, this member speaks {VERSION}")
    try:
        return Hello(Channel(channel), sender, to, cluster_id)
    except ValueError:
        raise PeerProtocolError(f"unknown channel {channel}") from None


def encode_welcome(member_id: int, cluster_id: int) -> bytes:
    return frame(FrameKind.WELCOME, _WELCOME.pack(member_id, cluster_id))


def decode_welcome(payload: bytes) -> tuple[int, int]:
    """(member id, cluster id) of the member that accepted the connection."""
    if len(payload) != _WELCOME.size:
        raise PeerProtocolError(f"welcome of {len(payload)} bytes, expected {_WELCOME.size}")
    member_id, cluster_id = _WELCOME.unpack(payload)
    return member_id, cluster_id


def encode_request(request_id: int, kind: str, body: bytes) -> bytes:
    name = kind.encode()
    if len(name) > 0xFFFF:
        raise PeerProtocolError(f"request kind of {len(name)} bytes is too long")
    return frame(FrameKind.REQUEST, _REQUEST.pack(request_id, len(name)) + name + body)


def decode_request(payload: bytes) -> tuple[int, str, bytes]:
    """(request id, kind, body)."""
    if len(payload) < _REQUEST.size:
        raise PeerProtocolError(f"request of {len(payload)} bytes has no header")
    request_id, n_kind = _REQUEST.unpack_from(payload)
    start = _REQUEST.size
    if start + n_kind > len(payload):
        raise PeerProtocolError(f"request {request_id}: kind truncated")
    try:
        kind = payload[start : start + n_kind].decode()
    except UnicodeDecodeError:
        raise PeerProtocolError(f"request {request_id}: kind is not utf-8") from None
    return request_id, kind, payload[start + n_kind :]


def encode_answer(kind: FrameKind, request_id: int, body: bytes) -> bytes:
    """An ANSWER (body) or a FAILED (utf-8 text) to request ``request_id``."""
    return frame(kind, _ANSWER.pack(request_id) + body)


def decode_answer(payload: bytes) -> tuple[int, bytes]:
    """(request id, body) of an ANSWER or FAILED frame."""
    if len(payload) < _ANSWER.size:
        raise PeerProtocolError(f"answer of {len(payload)} bytes has no request id")
    (request_id,) = _ANSWER.unpack_from(payload)
    return request_id, payload[_ANSWER.size :]
