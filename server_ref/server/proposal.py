"""Proposals: the requests that go through the log, as etcd's InternalRaftRequest.

A proposal is one request message of a kind in ``FIELD_NUMBERS``, with everything
decided before it is logged (a lease id the server picks is in it already, a password
is hashed already, an Authenticate carries its token's letters), so that applying a
log of proposals in order rebuilds the same state. Its log form is etcd's
InternalRaftRequest: the proposal in its field, and a request header with an id and,
for a caller with credentials, the user name and the auth revision it was checked at
(the applier checks permissions with them, as etcd's authApplierV3).
"""

from __future__ import annotations

from typing import Any

from etcd3py._proto import rpc_pb2

from ..auth.caller import AuthInfo
from ..auth.request import InternalAuthenticate
from ..wire import (
    field_size,
    length_delimited,
    length_delimited_fields,
    read_varint,
    varint,
    varint_size,
)
from .membership import ClusterVersionSet, MemberAttrSet

Proposal = (
    rpc_pb2.PutRequest
    | rpc_pb2.DeleteRangeRequest
    | rpc_pb2.TxnRequest
    | rpc_pb2.CompactionRequest
    | rpc_pb2.LeaseGrantRequest
    | rpc_pb2.LeaseRevokeRequest
    | rpc_pb2.AlarmRequest
    | rpc_pb2.AuthEnableRequest
    | rpc_pb2.AuthDisableRequest
    | rpc_pb2.AuthStatusRequest
    | InternalAuthenticate
    | rpc_pb2.AuthUserAddRequest
    | rpc_pb2.AuthUserDeleteRequest
    | rpc_pb2.AuthUserGetRequest
    | rpc_pb2.AuthUserChangePasswordRequest
    | rpc_pb2.AuthUserGrantRoleRequest
    | rpc_pb2.AuthUserRevokeRoleRequest
    | rpc_pb2.AuthUserListRequest
    | rpc_pb2.AuthRoleListRequest
    | rpc_pb2.AuthRoleAddRequest
    | rpc_pb2.AuthRoleDeleteRequest
    | rpc_pb2.AuthRoleGetRequest
    | rpc_pb2.AuthRoleGrantPermissionRequest
    | rpc_pb2.AuthRoleRevokePermissionRequest
    | MemberAttrSet
    | ClusterVersionSet
)

# InternalRaftRequest's field for each kind (etcd's raft_internal.proto)
FIELD_NUMBERS: dict[type, int] = {
    rpc_pb2.PutRequest: 4,
    rpc_pb2.DeleteRangeRequest: 5,
    rpc_pb2.TxnRequest: 6,
    rpc_pb2.CompactionRequest: 7,
    rpc_pb2.LeaseGrantRequest: 8,
    rpc_pb2.LeaseRevokeRequest: 9,
    rpc_pb2.AlarmRequest: 10,
    rpc_pb2.AuthEnableRequest: 1000,
    rpc_pb2.AuthDisableRequest: 1011,
    InternalAuthenticate: 1012,
    rpc_pb2.AuthStatusRequest: 1013,
    rpc_pb2.AuthUserAddRequest: 1100,
    rpc_pb2.AuthUserDeleteRequest: 1101,
    rpc_pb2.AuthUserGetRequest: 1102,
    rpc_pb2.AuthUserChangePasswordRequest: 1103,
    rpc_pb2.AuthUserGrantRoleRequest: 1104,
    rpc_pb2.AuthUserRevokeRoleRequest: 1105,
    rpc_pb2.AuthUserListRequest: 1106,
    rpc_pb2.AuthRoleListRequest: 1107,
    rpc_pb2.AuthRoleAddRequest: 1200,
    rpc_pb2.AuthRoleDeleteRequest: 1201,
    rpc_pb2.AuthRoleGetRequest: 1202,
    rpc_pb2.AuthRoleGrantPermissionRequest: 1203,
    rpc_pb2.AuthRoleRevokePermissionRequest: 1204,
    MemberAttrSet: 1300,
    ClusterVersionSet: 1301,
}
_KINDS: dict[int, Any] = {number: kind for kind, number in FIELD_NUMBERS.items()}
_HEADER_FIELD = 100  # RequestHeader header = 100: ID = 1, username = 2, auth_revision = 3
_ID_BYTES = 10  # the request id's field, with an id of etcd's size (a 9-byte varint)


# bytes a field's tag takes beyond one (field numbers from 16 on take two)
_LONG_TAG = {kind: varint_size(number << 3) - 1 for kind, number in FIELD_NUMBERS.items()}
# the header field (2-byte tag, length, body) of a header with an id only
_PLAIN_HEADER = 1 + field_size(_ID_BYTES)


def _header_field_size(who: AuthInfo | None) -> int:
    if who is None:
        return _PLAIN_HEADER
    size = _ID_BYTES
    if who.username:
        size += field_size(len(who.username.encode()))
    if who.revision:
        size += 1 + varint_size(who.revision)
    return 1 + field_size(size)


def size(proposal: Proposal, who: AuthInfo | None = None) -> int:
    """Bytes of the proposal's log form, as etcd measures it before proposing (etcd's
    request ids take 9 bytes; the header's field number, 100, takes a 2-byte tag)."""
    field = _LONG_TAG[type(proposal)] + field_size(proposal.ByteSize())
    return _header_field_size(who) + field


def encode(proposal: Proposal, request_id: int, who: AuthInfo | None = None) -> bytes:
    """The InternalRaftRequest bytes of ``proposal`` (fields in number order, as Go's)."""
    header = b"\x08" + varint(request_id)
    if who is not None:
        if who.username:
            header += length_delimited(2, who.username.encode())
        if who.revision:
            header += b"\x18" + varint(who.revision)
    number = FIELD_NUMBERS[type(proposal)]
    body = length_delimited(number, proposal.SerializeToString())
    head = length_delimited(_HEADER_FIELD, header)
    return body + head if number < _HEADER_FIELD else head + body


def decode(data: bytes) -> tuple[int, Proposal, AuthInfo | None]:
    """(request id, proposal, who) from InternalRaftRequest bytes made by ``encode``."""
    request_id, proposal, who = 0, None, None
    for number, body in length_delimited_fields(data, "InternalRaftRequest"):
        if number == _HEADER_FIELD:
            request_id, who = _decode_header(body)
        elif number in _KINDS and proposal is None:
            proposal = _KINDS[number].FromString(body)
        else:
            raise ValueError(f"unexpected field {number}")
    if proposal is None:
        raise ValueError("no proposal in the entry")
    return request_id, proposal, who


def _decode_header(body: bytes) -> tuple[int, AuthInfo | None]:
    if body[:1] != b"\x08":
        raise ValueError("a request header without an id")
    request_id, pos = read_varint(body, 1)
    username, revision = "", 0
    while pos < len(body):
        key, pos = read_varint(body, pos)
        if key == 0x12:
            length, pos = read_varint(body, pos)
            username, pos = body[pos : pos + length].decode(), pos + length
        elif key == 0x18:
            revision, pos = read_varint(body, pos)
        else:
            raise ValueError(f"unexpected request header key {key}")
    who = AuthInfo(username, revision) if username or revision else None
    return request_id, who
