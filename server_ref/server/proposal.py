"""Proposals: the requests that go through the log, as etcd's InternalRaftRequest.

A proposal is one request message of a kind in ``FIELD_NUMBERS``, with everything
decided before it is logged (a lease id the server picks is in it already), so that
applying a log of proposals in order rebuilds the same state. Its log form is etcd's
InternalRaftRequest: the proposal in its field, and a request header with an id.
"""

from __future__ import annotations

from google.protobuf.message import Message

from etcd3py._proto import rpc_pb2

from ..wire import field_size, read_varint, varint

Proposal = (
    rpc_pb2.PutRequest
    | rpc_pb2.DeleteRangeRequest
    | rpc_pb2.TxnRequest
    | rpc_pb2.CompactionRequest
    | rpc_pb2.LeaseGrantRequest
    | rpc_pb2.LeaseRevokeRequest
    | rpc_pb2.AlarmRequest
)

# InternalRaftRequest's field for each kind (etcd's raft_internal.proto)
FIELD_NUMBERS: dict[type[Message], int] = {
    rpc_pb2.PutRequest: 4,
    rpc_pb2.DeleteRangeRequest: 5,
    rpc_pb2.TxnRequest: 6,
    rpc_pb2.CompactionRequest: 7,
    rpc_pb2.LeaseGrantRequest: 8,
    rpc_pb2.LeaseRevokeRequest: 9,
    rpc_pb2.AlarmRequest: 10,
}
_KINDS = {number: kind for kind, number in FIELD_NUMBERS.items()}
_HEADER_FIELD = 100  # RequestHeader header = 100, whose ID is field 1
_LENGTH_DELIMITED = 2

# etcd refuses a proposal whose InternalRaftRequest is larger than max-request-bytes.
# The header takes 13 bytes with a request id of etcd's size (a 9-byte varint).
HEADER_BYTES = 13


def size(proposal: Proposal) -> int:
    """Bytes of the proposal's log form, as etcd measures it before proposing."""
    return HEADER_BYTES + field_size(proposal.ByteSize())


def encode(proposal: Proposal, request_id: int) -> bytes:
    """The InternalRaftRequest bytes of ``proposal`` (fields in number order, as Go's)."""
    header = b"\x08" + varint(request_id)
    return _field(FIELD_NUMBERS[type(proposal)], proposal.SerializeToString()) + _field(
        _HEADER_FIELD, header
    )


def decode(data: bytes) -> tuple[int, Proposal]:
    """(request id, proposal) from InternalRaftRequest bytes made by ``encode``."""
    request_id, proposal, pos = 0, None, 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type != _LENGTH_DELIMITED:
            raise ValueError(f"unexpected wire type {wire_type} for field {number}")
        length, pos = read_varint(data, pos)
        body, pos = data[pos : pos + length], pos + length
        if number == _HEADER_FIELD:
            if body[:1] != b"\x08":
                raise ValueError("a request header without an id")
            request_id, _ = read_varint(body, 1)
        elif number in _KINDS and proposal is None:
            proposal = _KINDS[number].FromString(body)
        else:
            raise ValueError(f"unexpected field {number}")
    if proposal is None:
        raise ValueError("no proposal in the entry")
    return request_id, proposal  # type: ignore[return-value]


def _field(number: int, body: bytes) -> bytes:
    return varint(number << 3 | _LENGTH_DELIMITED) + varint(len(body)) + body
