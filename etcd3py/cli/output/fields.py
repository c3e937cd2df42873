"""``-w fields``: one ``"Name" : value`` line per field, strings as Go's ``%q``."""

from __future__ import annotations

from etcd3py import (
    DeleteResponse,
    GetResponse,
    KeyValue,
    LeaseInfo,
    PutResponse,
    TxnResponse,
    WatchResponse,
)

from .base import Printer
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
