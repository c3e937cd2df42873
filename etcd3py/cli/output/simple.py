"""``-w simple`` (the default): etcdctl's plain lines."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from etcd3py import (
    DeleteResponse,
    GetResponse,
    KeyValue,
    LeaseInfo,
    PutResponse,
    TxnResponse,
    WatchResponse,
)

from .auth import AuthAck, AuthStatus, NameList, RoleInfo, UserInfo, role_lines
from .base import Printer
from .cluster import (
    AlarmList,
    EndpointHash,
    EndpointHealth,
    EndpointStatus,
    MemberChange,
    MemberList,
    MoveLeader,
    hash_rows,
    member_rows,
    status_rows,
)
from .responses import LeaseGrant, LeaseKeepAlive, LeaseList, LeaseRevoke, WatchCanceled
from .stream import line
from .text import hex_escaped


class SimplePrinter(Printer):
    name = "simple"

    def kv(self, kv: KeyValue) -> None:
        key, value = kv.key, kv.value
        if self.is_hex:
            key, value = hex_escaped(key), hex_escaped(value)
        if not self.value_only:
            line(key)
        line(value)

    def get(self, response: GetResponse) -> None:
        for kv in response.kvs:
            self.kv(kv)

    def put(self, response: PutResponse) -> None:
        line("OK")
        if response.prev_kv is not None:
            self.kv(response.prev_kv)

    def delete(self, response: DeleteResponse) -> None:
        line(str(response.deleted))
        for kv in response.prev_kvs:
            self.kv(kv)

    def txn(self, response: TxnResponse) -> None:
        line("SUCCESS" if response.succeeded else "FAILURE")
        for op in response.responses:
            line()
            if isinstance(op, GetResponse):
                self.get(op)
            elif isinstance(op, PutResponse):
                self.put(op)
            elif isinstance(op, DeleteResponse):
                self.delete(op)
            else:  # a nested txn: etcdctl prints Go's %+v of it, which has no stable form
                line(f"unexpected response {op!r}")

    def watch(self, response: WatchResponse | WatchCanceled) -> None:
        for event in response.events:
            line(event.type.name)
            if event.prev_kv is not None:
                self.kv(event.prev_kv)
            self.kv(event.kv)

    def grant(self, response: LeaseGrant) -> None:
        line(f"lease {response.id:016x} granted with TTL({response.ttl}s)")

    def revoke(self, response: LeaseRevoke) -> None:
        line(f"lease {response.id:016x} revoked")

    def keep_alive(self, response: LeaseKeepAlive) -> None:
        line(f"lease {response.id:016x} keepalived with TTL({response.ttl})")

    def time_to_live(self, response: LeaseInfo, keys: bool) -> None:
        if response.granted_ttl == 0 and response.ttl == -1:
            line(f"lease {response.id:016x} already expired")
            return
        text = (
            f"lease {response.id:016x} granted with TTL({response.granted_ttl}s), "
            f"remaining({response.ttl}s)"
        )
        data = text.encode()
        if keys:  # Go's %v of a []string: [a b c]
            data += b", attached keys([" + b" ".join(response.keys) + b"])"
        line(data)

    def leases(self, response: LeaseList) -> None:
        line(f"found {len(response.ids)} leases")
        for lease_id in response.ids:
            line(f"{lease_id:016x}")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        for row in rows:
            line(", ".join(row))

    # ---- cluster and maintenance: member, endpoint, alarm, move-leader ----

    def member_list(self, response: MemberList) -> None:
        self.table([], member_rows(response.members))

    def member_change(self, response: MemberChange) -> None:
        line(f"Member {response.id:16x} {response.verb} cluster {response.header.cluster_id:16x}")

    def endpoint_health(self, items: Sequence[EndpointHealth]) -> None:
        for h in items:
            if not h.error:
                line(f"{h.endpoint} is healthy: successfully committed proposal: took = {h.took}")
            else:  # etcdctl writes the unhealthy ones to stderr
                sys.stderr.write(
                    f"{h.endpoint} is unhealthy: failed to commit proposal: {h.error}\n"
                )
                sys.stderr.flush()

    def endpoint_status(self, items: Sequence[EndpointStatus]) -> None:
        self.table([], status_rows(items))

    def endpoint_hash(self, items: Sequence[EndpointHash]) -> None:
        self.table([], hash_rows(items))

    def alarms(self, response: AlarmList) -> None:
        for alarm in response.alarms:  # Go's %+v of the protobuf message: its compact text
            line(f"memberID:{alarm.member_id} alarm:{alarm.alarm.name} ")

    def move_leader(self, response: MoveLeader) -> None:
        line(f"Leadership transferred from {response.leader:x} to {response.target:x}")

    # ---- authentication: auth, user, role ----

    def auth_ack(self, response: AuthAck) -> None:
        line(response.text)

    def role_get(self, response: RoleInfo) -> None:
        for text in role_lines(response):
            line(text)

    def name_list(self, response: NameList) -> None:
        for name in response.names:
            line(name)

    def user_get(self, response: UserInfo) -> None:
        line(f"User: {response.name}")
        line("Roles:" + "".join(f" {role}" for role in response.roles))

    def auth_status(self, response: AuthStatus) -> None:
        line(f"Authentication Status: {'true' if response.enabled else 'false'}")
        revision = "unknown" if response.auth_revision is None else response.auth_revision
        line(f"AuthRevision: {revision}")
