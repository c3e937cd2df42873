"""``-w json``: Go's encoding/json of etcd's response structs.

Field order is the struct's, zero values are left out (every field is ``omitempty``),
bytes are base64 and 64-bit ids plain numbers, as Go writes them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

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
    EndpointHash,
    EndpointHealth,
    EndpointStatus,
    MemberChange,
    MemberList,
    MoveLeader,
)
from .responses import HeaderLike, LeaseGrant, LeaseKeepAlive, LeaseList, LeaseRevoke, WatchCanceled
from .stream import line


def _omit_empty(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v not in (0, "", False, None, [], {})}


def header_json(header: HeaderLike) -> dict[str, Any]:
    return _omit_empty(
        [
            ("cluster_id", header.cluster_id),
            ("member_id", header.member_id),
            ("revision", header.revision),
            ("raft_term", header.raft_term),
        ]
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kv_json(kv: KeyValue) -> dict[str, Any]:
    return _omit_empty(
        [
            ("key", _b64(kv.key)),
            ("create_revision", kv.create_revision),
            ("mod_revision", kv.mod_revision),
            ("version", kv.version),
            ("value", _b64(kv.value)),
            ("lease", kv.lease),
        ]
    )


def get_json(r: GetResponse) -> dict[str, Any]:
    kvs = [kv_json(kv) for kv in r.kvs]
    return {
        "header": header_json(r.header),
        **_omit_empty([("kvs", kvs), ("more", r.more), ("count", r.count)]),
    }


def put_json(r: PutResponse) -> dict[str, Any]:
    prev = None if r.prev_kv is None else kv_json(r.prev_kv)
    return {"header": header_json(r.header), **_omit_empty([("prev_kv", prev)])}


def delete_json(r: DeleteResponse) -> dict[str, Any]:
    prevs = [kv_json(kv) for kv in r.prev_kvs]
    return {
        "header": header_json(r.header),
        **_omit_empty([("deleted", r.deleted), ("prev_kvs", prevs)]),
    }


def txn_json(r: TxnResponse) -> dict[str, Any]:
    ops = []
    for op in r.responses:
        if isinstance(op, GetResponse):
            ops.append({"Response": {"response_range": get_json(op)}})
        elif isinstance(op, PutResponse):
            ops.append({"Response": {"response_put": put_json(op)}})
        elif isinstance(op, DeleteResponse):
            ops.append({"Response": {"response_delete_range": delete_json(op)}})
        else:
            ops.append({"Response": {"response_txn": txn_json(op)}})
    return {
        "header": header_json(r.header),
        **_omit_empty([("succeeded", r.succeeded), ("responses", ops)]),
    }


def dumps(data: Any) -> str:
    """Compact, in insertion order, non-ASCII escaped as Go does not: Go keeps UTF-8, so we do."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def member_json(m: Member) -> dict[str, Any]:
    return _omit_empty(
        [
            ("ID", m.id),
            ("name", m.name),
            ("peerURLs", m.peer_urls),
            ("clientURLs", m.client_urls),
            ("isLearner", m.is_learner),
        ]
    )


def member_list_hex(response: MemberList) -> str:
    """etcdctl's hand-written JSON for ``member list -w json --hex``: ids in hex strings,
    the raft term in hex without quotes, no revision, ``clientURLS`` spelt so."""
    h = response.header
    text = (
        f'{{"header":{{"cluster_id":"{h.cluster_id:x}","member_id":"{h.member_id:x}",'
        f'"raft_term":{h.raft_term:x}}}'
    )
    for i, m in enumerate(response.members):
        text += ',"members":[' if i == 0 else ","
        text += (
            f'{{"ID":"{m.id:x}","name":"{m.name}","peerURLs":{dumps(m.peer_urls)},'
            f'"clientURLS":{dumps(m.client_urls)}}}'
        )
        if i == len(response.members) - 1:
            text += "]"
    return text + "}"


class JsonPrinter(Printer):
    name = "json"

    def emit(self, data: Any) -> None:
        line(dumps(data))

    def get(self, response: GetResponse) -> None:
        self.emit(get_json(response))

    def put(self, response: PutResponse) -> None:
        self.emit(put_json(response))

    def delete(self, response: DeleteResponse) -> None:
        self.emit(delete_json(response))

    def txn(self, response: TxnResponse) -> None:
        self.emit(txn_json(response))

    def watch(self, response: WatchResponse | WatchCanceled) -> None:
        events = []
        for event in response.events:
            pairs: list[tuple[str, Any]] = [("type", int(event.type)), ("kv", kv_json(event.kv))]
            if event.prev_kv is not None:
                pairs.append(("prev_kv", kv_json(event.prev_kv)))
            events.append(_omit_empty(pairs))
        self.emit(
            {
                "Header": header_json(response.header),
                "Events": events,  # clientv3 makes the slice for every response: [] not null
                "CompactRevision": response.compact_revision,
                "Canceled": isinstance(response, WatchCanceled),
                "Created": False,
            }
        )

    def grant(self, response: LeaseGrant) -> None:
        self.emit(
            {**header_json(response.header), "ID": response.id, "TTL": response.ttl, "Error": ""}
        )

    def revoke(self, response: LeaseRevoke) -> None:
        self.emit({"header": header_json(response.header)})

    def keep_alive(self, response: LeaseKeepAlive) -> None:
        self.emit({**header_json(response.header), "ID": response.id, "TTL": response.ttl})

    def time_to_live(self, response: LeaseInfo, keys: bool) -> None:
        self.emit(
            {
                **header_json(response.header),
                "id": response.id,
                "ttl": response.ttl,
                "granted-ttl": response.granted_ttl,
                "keys": [_b64(k) for k in response.keys] or None,
            }
        )

    def leases(self, response: LeaseList) -> None:
        leases = [{"id": lease_id} for lease_id in response.ids]
        self.emit({**header_json(response.header), "leases": leases or None})

    # ---- cluster and maintenance: member, endpoint, alarm, move-leader ----

    def member_list(self, response: MemberList) -> None:
        if self.is_hex:
            line(member_list_hex(response))
            return
        members = [member_json(m) for m in response.members]
        self.emit({"header": header_json(response.header), **_omit_empty([("members", members)])})

    def member_change(self, response: MemberChange) -> None:
        added = None if response.member is None else member_json(response.member)
        members = [member_json(m) for m in response.members]
        self.emit(
            {
                "header": header_json(response.header),
                **_omit_empty([("member", added), ("members", members)]),
            }
        )

    def endpoint_health(self, items: Sequence[EndpointHealth]) -> None:
        out = []
        for h in items:
            entry: dict[str, Any] = {"endpoint": h.endpoint, "health": h.health, "took": h.took}
            if h.error:
                entry["error"] = h.error
            out.append(entry)
        self.emit(out)

    def endpoint_status(self, items: Sequence[EndpointStatus]) -> None:
        out = []
        for item in items:
            s = item.status
            body = _omit_empty(
                [
                    ("version", s.version),
                    ("dbSize", s.db_size),
                    ("leader", s.leader),
                    ("raftIndex", s.raft_index),
                    ("raftTerm", s.raft_term),
                    ("raftAppliedIndex", s.raft_applied_index),
                    ("errors", s.errors),
                    ("dbSizeInUse", s.db_size_in_use),
                    ("isLearner", s.is_learner),
                ]
            )
            out.append(
                {"Endpoint": item.endpoint, "Status": {"header": header_json(s.header), **body}}
            )
        self.emit(out)

    def endpoint_hash(self, items: Sequence[EndpointHash]) -> None:
        out = []
        for h in items:
            body = _omit_empty([("hash", h.hash), ("compact_revision", h.compact_revision)])
            out.append(
                {"Endpoint": h.endpoint, "HashKV": {"header": header_json(h.header), **body}}
            )
        self.emit(out)

    def alarms(self, response: AlarmList) -> None:
        alarms = [
            _omit_empty([("memberID", a.member_id), ("alarm", int(a.alarm))])
            for a in response.alarms
        ]
        header = None if response.header is None else header_json(response.header)
        self.emit(_omit_empty([("header", header), ("alarms", alarms)]))

    def move_leader(self, response: MoveLeader) -> None:
        self.emit({"header": header_json(response.header)})

    # ---- authentication: auth, user, role ----

    def auth_ack(self, response: AuthAck) -> None:
        self.emit({"header": header_json(response.header)})

    def role_get(self, response: RoleInfo) -> None:
        perms = [
            _omit_empty(
                [("permType", int(p.perm)), ("key", _b64(p.key)), ("range_end", _b64(p.range_end))]
            )
            for p in response.perms
        ]
        self.emit({"header": header_json(response.header), **_omit_empty([("perm", perms)])})

    def name_list(self, response: NameList) -> None:
        names = list(response.names)
        self.emit({"header": header_json(response.header), **_omit_empty([(response.kind, names)])})

    def user_get(self, response: UserInfo) -> None:
        roles = list(response.roles)
        self.emit({"header": header_json(response.header), **_omit_empty([("roles", roles)])})

    def auth_status(self, response: AuthStatus) -> None:
        pairs = [("enabled", response.enabled), ("authRevision", response.auth_revision)]
        self.emit({"header": header_json(response.header), **_omit_empty(pairs)})
