"""The peer protocol's bytes: every Raft message comes back exactly as it went, and bytes
that are not the protocol are refused with an error that says what is wrong."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcd3py.server_ref.cluster import codec
from etcd3py.server_ref.cluster.codec import Channel, FrameKind, Hello
from etcd3py.server_ref.cluster.errors import PeerProtocolError
from etcd3py.server_ref.raft.messages import Entry, EntryKind, Message, MessageType, Snapshot

u64 = st.integers(min_value=0, max_value=2**64 - 1)
small_bytes = st.binary(max_size=64)
entries = st.builds(Entry, term=u64, index=u64, data=small_bytes, kind=st.sampled_from(EntryKind))
snapshots = st.builds(
    Snapshot,
    index=u64,
    term=u64,
    voters=st.frozensets(u64, max_size=5),
    data=st.binary(max_size=256),
    learners=st.frozensets(u64, max_size=3),
)
messages = st.builds(
    Message,
    type=st.sampled_from(MessageType),
    to=u64,
    sender=u64,
    term=u64,
    log_term=u64,
    index=u64,
    entries=st.lists(entries, max_size=6).map(tuple),
    commit=u64,
    reject=st.booleans(),
    reject_hint=u64,
    transfer=st.booleans(),
    snapshot=st.none() | snapshots,
    context=small_bytes,
)

APPEND = Message(
    MessageType.APPEND,
    to=2,
    sender=1,
    term=3,
    log_term=3,
    index=10,
    entries=(Entry(3, 11, b"put"), Entry(3, 12, b"cc", EntryKind.CONF_CHANGE)),
    commit=10,
)
SNAPSHOT = Message(
    MessageType.SNAPSHOT,
    to=2,
    sender=1,
    term=3,
    snapshot=Snapshot(9, 2, frozenset({1, 2}), b"state", frozenset({4})),
)


@given(messages)
def test_every_message_comes_back_exactly(m: Message) -> None:
    assert codec.decode_message(codec.encode_message(m)) == m


def test_every_message_type_has_a_wire_code() -> None:
    assert set(codec.TYPE_CODES) == set(MessageType)
    assert len(set(codec.TYPE_CODES.values())) == len(MessageType)


def test_a_snapshot_of_many_megabytes_comes_back() -> None:
    data = bytes(range(256)) * (64 * 1024)  # 16 MiB
    big = Message(
        MessageType.SNAPSHOT,
        to=2,
        sender=1,
        snapshot=Snapshot(5, 1, frozenset({1, 2, 3}), data, frozenset()),
    )
    back = codec.decode_message(codec.encode_message(big))
    assert back == big
    assert back.snapshot is not None and len(back.snapshot.data) == len(data)


@pytest.mark.parametrize("m", [APPEND, SNAPSHOT], ids=["append", "snapshot"])
def test_every_truncation_is_refused(m: Message) -> None:
    data = codec.encode_message(m)
    for cut in range(len(data)):
        with pytest.raises(PeerProtocolError, match="truncated"):
            codec.decode_message(data[:cut])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(PeerProtocolError, match="3 bytes after the end of the message"):
        codec.decode_message(codec.encode_message(APPEND) + b"xyz")


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_unknown_codes_are_named() -> None:
    data = codec.encode_message(APPEND)
    with pytest.raises(PeerProtocolError, match="unknown message type code 200"):
        codec.decode_message(_patched(data, 0, "<B", 200))
    with pytest.raises(PeerProtocolError, match="unknown message flags 0x80"):
        codec.decode_message(_patched(data, 1, "<B", 0x80))
    first_entry_kind = struct.calcsize("<BBQQQQQQQII") + 16
    with pytest.raises(PeerProtocolError, match="entry 0: unknown entry kind 9"):
        codec.decode_message(_patched(data, first_entry_kind, "<B", 9))


def test_a_forged_entry_count_is_refused_before_anything_is_read() -> None:
    data = codec.encode_message(APPEND)
    n_entries_at = struct.calcsize("<BBQQQQQQQ")
    with pytest.raises(PeerProtocolError, match="4000000000 entries"):
        codec.decode_message(_patched(data, n_entries_at, "<I", 4_000_000_000))


@pytest.mark.parametrize(("voters", "learners"), [((7, 7), ()), ((8, 7), ()), ((1,), (5, 4))])
def test_member_ids_out_of_order_or_twice_are_refused(
    voters: tuple[int, ...], learners: tuple[int, ...]
) -> None:
    header = _patched(
        codec.encode_message(Message(MessageType.SNAPSHOT, to=2, sender=1)), 1, "<B", 4
    )
    ids = struct.pack(f"<{len(voters) + len(learners)}Q", *voters, *learners)
    data = header + struct.pack("<QQIIQ", 9, 2, len(voters), len(learners), 0) + ids
    with pytest.raises(PeerProtocolError, match="not in ascending order, or listed twice"):
        codec.decode_message(data)


@given(st.binary(max_size=300))
def test_random_bytes_decode_or_are_refused_never_crash(data: bytes) -> None:
    try:
        m = codec.decode_message(data)
    except PeerProtocolError:
        return
    assert codec.encode_message(m) == data


def test_a_value_the_wire_cannot_hold_is_refused_on_encoding() -> None:
    with pytest.raises(PeerProtocolError, match="append message not encodable"):
        codec.encode_message(Message(MessageType.APPEND, to=2**64, sender=1))


@given(
    st.sampled_from(Channel),
    u64,
    u64,
    u64,
)
def test_a_hello_comes_back(channel: Channel, sender: int, to: int, cluster_id: int) -> None:
    hello = Hello(channel, sender, to, cluster_id)
    data = codec.encode_hello(hello)
    length, kind = codec.FRAME_HEADER.unpack_from(data)
    assert kind == FrameKind.HELLO and length == len(data) - codec.FRAME_HEADER.size
    assert codec.decode_hello(data[codec.FRAME_HEADER.size :]) == hello


def test_a_hello_from_something_else_is_refused() -> None:
    payload = codec.encode_hello(Hello(Channel.STREAM, 1, 2, 3))[codec.FRAME_HEADER.size :]
    with pytest.raises(PeerProtocolError, match="not the peer protocol"):
        codec.decode_hello(b"GET " + payload[4:])
    with pytest.raises(PeerProtocolError, match="version 9, this member speaks 1"):
        codec.decode_hello(_patched(payload, 4, "<B", 9))
    with pytest.raises(PeerProtocolError, match="unknown channel 0"):
        codec.decode_hello(_patched(payload, 5, "<B", 0))
    with pytest.raises(PeerProtocolError, match="hello of 3 bytes"):
        codec.decode_hello(payload[:3])


@given(u64, st.text(max_size=20), st.binary(max_size=50))
def test_a_request_and_its_answer_come_back(request_id: int, kind: str, body: bytes) -> None:
    data = codec.encode_request(request_id, kind, body)
    assert codec.decode_request(data[codec.FRAME_HEADER.size :]) == (request_id, kind, body)
    answer = codec.encode_answer(FrameKind.FAILED, request_id, body)
    assert codec.decode_answer(answer[codec.FRAME_HEADER.size :]) == (request_id, body)


def test_malformed_requests_and_frames_are_refused() -> None:
    with pytest.raises(PeerProtocolError, match="request 5: kind truncated"):
        codec.decode_request(struct.pack("<QH", 5, 10) + b"abc")
    with pytest.raises(PeerProtocolError, match="kind is not utf-8"):
        codec.decode_request(struct.pack("<QH", 5, 1) + b"\xff")
    with pytest.raises(PeerProtocolError, match="answer of 2 bytes"):
        codec.decode_answer(b"ab")
    with pytest.raises(PeerProtocolError, match="unknown frame kind 99"):
        codec.frame_kind(99)
    assert codec.decode_welcome(codec.encode_welcome(7, 8)[codec.FRAME_HEADER.size :]) == (7, 8)
