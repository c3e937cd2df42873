"""``-w protobuf``: the response's protobuf wire bytes, as etcdctl writes them.

Encoded here from the public response objects (field numbers from etcd's rpc.proto and
kv.proto): proto3 leaves zero scalars out, fields go in number order, as gogoproto writes.
"""

from __future__ import annotations

from etcd3py import (
    DeleteResponse,
    GetResponse,
    KeyValue,
    LeaseInfo,
    Member,
    PutResponse,
    TxnResponse,
    WatchResponse,
)

from .auth import AuthAck, AuthStatus, NameList, RoleInfo, UserInfo
from .base import Printer
from .cluster import (
    AlarmList,
    MemberChange,
    MemberList,
    MoveLeader,
)
from .responses import HeaderLike, LeaseGrant, LeaseKeepAlive, LeaseList, LeaseRevoke, WatchCanceled
from .stream import write


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are ten bytes, as in Go
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value) if value else b""


def _bytes(field: int, value: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(value)) + value if value else b""


def _message(field: int, body: bytes) -> bytes:
    """A present sub-message (written even when empty)."""
    return _varint(field << 3 | 2) + _varint(len(body)) + body


def header_pb(h: HeaderLike) -> bytes:
    return _int(1, h.cluster_id) + _int(2, h.member_id) + _int(3, h.revision) + _int(4, h.raft_term)


def kv_pb(kv: KeyValue) -> bytes:
    return (
        _bytes(1, kv.key)
        + _int(2, kv.create_revision)
        + _int(3, kv.mod_revision)
        + _int(4, kv.version)
        + _bytes(5, kv.value)
        + _int(6, kv.lease)
    )


def get_pb(r: GetResponse) -> bytes:
    kvs = b"".join(_message(2, kv_pb(kv)) for kv in r.kvs)
    return _message(1, header_pb(r.header)) + kvs + _int(3, int(r.more)) + _int(4, r.count)


def put_pb(r: PutResponse) -> bytes:
    prev = b"" if r.prev_kv is None else _message(2, kv_pb(r.prev_kv))
    return _message(1, header_pb(r.header)) + prev


def delete_pb(r: DeleteResponse) -> bytes:
    prevs = b"".join(_message(3, kv_pb(kv)) for kv in r.prev_kvs)
    return _message(1, header_pb(r.header)) + _int(2, r.deleted) + prevs


def txn_pb(r: TxnResponse) -> bytes:
    ops = b""
    for op in r.responses:
        if isinstance(op, GetResponse):
            body = _message(1, get_pb(op))
        elif isinstance(op, PutResponse):
            body = _message(2, put_pb(op))
        elif isinstance(op, DeleteResponse):
            body = _message(3, delete_pb(op))
        else:
            body = _message(4, txn_pb(op))
        ops += _message(3, body)
    return _message(1, header_pb(r.header)) + _int(2, int(r.succeeded)) + ops


def _string(field: int, value: str) -> bytes:
    return _bytes(field, value.encode())


def member_pb(m: Member) -> bytes:
    return (
        _int(1, m.id)
        + _string(2, m.name)
        + b"".join(_message(3, url.encode()) for url in m.peer_urls)
        + b"".join(_message(4, url.encode()) for url in m.client_urls)
        + _int(5, int(m.is_learner))
    )


class ProtobufPrinter(Printer):
    name = "protobuf"

    def get(self, response: GetResponse) -> None:
        write(get_pb(response))

    def put(self, response: PutResponse) -> None:
        write(put_pb(response))

    def delete(self, response: DeleteResponse) -> None:
        write(delete_pb(response))

    def txn(self, response: TxnResponse) -> None:
        write(txn_pb(response))

    def watch(self, response: WatchResponse | WatchCanceled) -> None:
        events = b""
        for event in response.events:
            body = _int(1, int(event.type)) + _message(2, kv_pb(event.kv))
            if event.prev_kv is not None:
                body += _message(3, kv_pb(event.prev_kv))
            events += _message(11, body)
        canceled = _int(4, int(isinstance(response, WatchCanceled)))
        body = _message(1, header_pb(response.header)) + canceled
        write(body + _int(5, response.compact_revision) + events)

    # etcdctl marshals clientv3's lease responses through their embedded header: the
    # header's own bytes are all it prints for them (revoke's is a protobuf message)
    def grant(self, response: LeaseGrant) -> None:
        write(header_pb(response.header))

    def revoke(self, response: LeaseRevoke) -> None:
        write(_message(1, header_pb(response.header)))

    def keep_alive(self, response: LeaseKeepAlive) -> None:
        write(header_pb(response.header))

    def time_to_live(self, response: LeaseInfo, keys: bool) -> None:
        write(header_pb(response.header))

    def leases(self, response: LeaseList) -> None:
        write(header_pb(response.header))

    # ---- cluster and maintenance: member, alarm, move-leader ----

    def member_list(self, response: MemberList) -> None:
        members = b"".join(_message(2, member_pb(m)) for m in response.members)
        write(_message(1, header_pb(response.header)) + members)

    def member_change(self, response: MemberChange) -> None:
        body = _message(1, header_pb(response.header))
        field = 2
        if response.member is not None:  # MemberAddResponse: member 2, members 3
            body += _message(2, member_pb(response.member))
            field = 3
        write(body + b"".join(_message(field, member_pb(m)) for m in response.members))

    def alarms(self, response: AlarmList) -> None:
        alarms = b"".join(
            _message(2, _int(1, a.member_id) + _int(2, int(a.alarm))) for a in response.alarms
        )
        header = b"" if response.header is None else _message(1, header_pb(response.header))
        write(header + alarms)

    def move_leader(self, response: MoveLeader) -> None:
        write(_message(1, header_pb(response.header)))

    # ---- authentication: auth, user, role ----

    def auth_ack(self, response: AuthAck) -> None:
        write(_message(1, header_pb(response.header)))

    def role_get(self, response: RoleInfo) -> None:
        perms = b"".join(
            _message(2, _int(1, int(p.perm)) + _bytes(2, p.key) + _bytes(3, p.range_end))
            for p in response.perms
        )
        write(_message(1, header_pb(response.header)) + perms)

    def name_list(self, response: NameList) -> None:
        names = b"".join(_message(2, n.encode()) for n in response.names)
        write(_message(1, header_pb(response.header)) + names)

    def user_get(self, response: UserInfo) -> None:
        roles = b"".join(_message(2, r.encode()) for r in response.roles)
        write(_message(1, header_pb(response.header)) + roles)

    def auth_status(self, response: AuthStatus) -> None:
        body = _int(2, int(response.enabled)) + _int(3, response.auth_revision or 0)
        write(_message(1, header_pb(response.header)) + body)
