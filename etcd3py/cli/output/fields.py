"""``-w fields``: one ``"Name" : value`` line per field, strings as Go's ``%q``."""

from __future__ import annotations

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

from ..errors import EXIT_BAD_CONNECTION, CliError
from .auth import AuthAck, NameList, RoleInfo
from .base import Printer
from .cluster import (
    AlarmList,
    EndpointHash,
    EndpointHealth,
    EndpointStatus,
    MemberList,
)
from .responses import HeaderLike, LeaseGrant, LeaseKeepAlive, LeaseList, LeaseRevoke, WatchCanceled
from .stream import line
from .text import go_quote


def _bool(value: bool) -> str:
    return "true" if value else "false"


class FieldsPrinter(Printer):
    name = "fields"

    def kv(self, prefix: str, kv: KeyValue) -> None:
        line(f'"{prefix}Key" : {go_quote(kv.key)}')
        line(f'"{prefix}CreateRevision" : {kv.create_revision}')
        line(f'"{prefix}ModRevision" : {kv.mod_revision}')
        line(f'"{prefix}Version" : {kv.version}')
        line(f'"{prefix}Value" : {go_quote(kv.value)}')
        line(f'"{prefix}Lease" : {kv.lease}')

    def header(self, header: HeaderLike) -> None:
        line(f'"ClusterID" : {header.cluster_id}')
        line(f'"MemberID" : {header.member_id}')
        line(f'"Revision" : {header.revision}')
        line(f'"RaftTerm" : {header.raft_term}')

    def get(self, response: GetResponse) -> None:
        self.header(response.header)
        for kv in response.kvs:
            self.kv("", kv)
        line(f'"More" : {_bool(response.more)}')
        line(f'"Count" : {response.count}')

    def put(self, response: PutResponse) -> None:
        self.header(response.header)
        if response.prev_kv is not None:
            self.kv("Prev", response.prev_kv)

    def delete(self, response: DeleteResponse) -> None:
        self.header(response.header)
        line(f'"Deleted" : {response.deleted}')
        for kv in response.prev_kvs:
            self.kv("Prev", kv)

    def txn(self, response: TxnResponse) -> None:
        self.header(response.header)
        line(f'"Succeeded" : {_bool(response.succeeded)}')
        for op in response.responses:
            if isinstance(op, GetResponse):
                self.get(op)
            elif isinstance(op, PutResponse):
                self.put(op)
            elif isinstance(op, DeleteResponse):
                self.delete(op)
            else:
                line(f'"Unknown" : {go_quote(repr(op).encode())}')

    def watch(self, response: WatchResponse | WatchCanceled) -> None:
        self.header(response.header)
        for event in response.events:
            line(f'"Type" : {event.type.name}')
            if event.prev_kv is not None:
                self.kv("Prev", event.prev_kv)
            self.kv("", event.kv)

    def grant(self, response: LeaseGrant) -> None:
        self.header(response.header)
        line(f'"ID" : {response.id}')
        line(f'"TTL" : {response.ttl}')

    def revoke(self, response: LeaseRevoke) -> None:
        self.header(response.header)

    def keep_alive(self, response: LeaseKeepAlive) -> None:
        self.grant(LeaseGrant(response.id, response.ttl, response.header))

    def time_to_live(self, response: LeaseInfo, keys: bool) -> None:
        self.header(response.header)
        line(f'"ID" : {response.id}')
        line(f'"TTL" : {response.ttl}')
        line(f'"GrantedTTL" : {response.granted_ttl}')
        for key in response.keys:
            line(f'"Key" : {go_quote(key)}')

    def leases(self, response: LeaseList) -> None:
        self.header(response.header)
        for lease_id in response.ids:
            line(f'"ID" : {lease_id}')

    # ---- cluster and maintenance: member, endpoint, alarm ----

    def member_list(self, response: MemberList) -> None:
        self.header(response.header)
        for m in response.members:
            line(f'"ID" : {m.id}')
            line(f'"Name" : {go_quote(m.name.encode())}')
            for url in m.peer_urls:
                line(f'"PeerURL" : {go_quote(url.encode())}')
            for url in m.client_urls:
                line(f'"ClientURL" : {go_quote(url.encode())}')
            line(f'"IsLearner" : {_bool(m.is_learner)}')
            line()

    def endpoint_health(self, items: Sequence[EndpointHealth]) -> None:
        for h in items:
            line(f'"Endpoint" : {go_quote(h.endpoint.encode())}')
            line(f'"Health" : {_bool(h.health)}')
            line(f'"Took" : {h.took}')
            line(f'"Error" : {h.error}')
            line()

    def endpoint_status(self, items: Sequence[EndpointStatus]) -> None:
        for item in items:
            s = item.status
            self.header(s.header)
            line(f'"Version" : {go_quote(s.version.encode())}')
            line(f'"DBSize" : {s.db_size}')
            line(f'"Leader" : {s.leader}')
            line(f'"IsLearner" : {_bool(s.is_learner)}')
            line(f'"RaftIndex" : {s.raft_index}')
            line(f'"RaftTerm" : {s.raft_term}')
            line(f'"RaftAppliedIndex" : {s.raft_applied_index}')
            line(f'"Errors" : [{" ".join(s.errors)}]')  # Go's %v of a []string
            line(f'"Endpoint" : {go_quote(item.endpoint.encode())}')
            line()

    def endpoint_hash(self, items: Sequence[EndpointHash]) -> None:
        for h in items:
            self.header(h.header)
            line(f'"Endpoint" : {go_quote(h.endpoint.encode())}')
            line(f'"Hash" : {h.hash}')
            line()

    def alarms(self, response: AlarmList) -> None:
        if response.header is None:  # etcdctl 3.5.1 dereferences the missing header and crashes
            raise CliError(EXIT_BAD_CONNECTION, "fields output of alarm disarm: no header to print")
        self.header(response.header)
        for alarm in response.alarms:
            line(f'"MemberID" : {alarm.member_id}')
            line(f'"AlarmType" : {alarm.alarm.name}')
            line()

    # ---- authentication: auth, user, role ----

    def auth_ack(self, response: AuthAck) -> None:
        self.header(response.header)

    def role_get(self, response: RoleInfo) -> None:
        self.header(response.header)
        for p in response.perms:
            line(f'"PermType" :  {p.perm.name}')  # Println's space after a trailing space
            line(f'"Key" : {go_quote(p.key)}')
            line(f'"RangeEnd" : {go_quote(p.range_end)}')

    def name_list(self, response: NameList) -> None:
        if response.kind != "roles":  # etcdctl's fields printer has no user list
            raise self.unsupported()
        self.header(response.header)
        line('"Roles" :' + "".join(f" {go_quote(n.encode())}" for n in response.names))
