"""The printer interface: one method per kind of response, each refusing by default.

A format implements the responses it has a form for; the others raise etcdctl's
``<format> not supported as output format`` (exit 4).
"""

from __future__ import annotations

from collections.abc import Sequence

from etcd3py import DeleteResponse, GetResponse, LeaseInfo, PutResponse, TxnResponse, WatchResponse

from ..errors import EXIT_BAD_FEATURE, CliError
from .auth import AuthAck, AuthStatus, NameList, RoleInfo, UserInfo
from .cluster import (
    AlarmList,
    EndpointHash,
    EndpointHealth,
    EndpointStatus,
    MemberChange,
    MemberList,
    MoveLeader,
)
from .responses import LeaseGrant, LeaseKeepAlive, LeaseList, LeaseRevoke, WatchCanceled


class Printer:
    """Base of every format; ``name`` is the ``--write-out`` value."""

    name = "?"

    def __init__(self, is_hex: bool = False) -> None:
        self.is_hex = is_hex
        self.value_only = False  # get --print-value-only (simple format only)

    def unsupported(self) -> CliError:
        return CliError(EXIT_BAD_FEATURE, f"{self.name} not supported as output format")

    def get(self, response: GetResponse) -> None:
        raise self.unsupported()

    def put(self, response: PutResponse) -> None:
        raise self.unsupported()

    def delete(self, response: DeleteResponse) -> None:
        raise self.unsupported()

    def txn(self, response: TxnResponse) -> None:
        raise self.unsupported()

    def watch(self, response: WatchResponse | WatchCanceled) -> None:
        raise self.unsupported()

    def grant(self, response: LeaseGrant) -> None:
        raise self.unsupported()

    def revoke(self, response: LeaseRevoke) -> None:
        raise self.unsupported()

    def keep_alive(self, response: LeaseKeepAlive) -> None:
        raise self.unsupported()

    def time_to_live(self, response: LeaseInfo, keys: bool) -> None:
        raise self.unsupported()

    def leases(self, response: LeaseList) -> None:
        raise self.unsupported()

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Rows that etcdctl prints as a table (-w table) or joined by ``, `` (-w simple)."""
        raise self.unsupported()

    # ---- cluster and maintenance: member, endpoint, alarm, move-leader ----

    def member_list(self, response: MemberList) -> None:
        raise self.unsupported()

    def member_change(self, response: MemberChange) -> None:
        raise self.unsupported()

    def endpoint_health(self, items: Sequence[EndpointHealth]) -> None:
        raise self.unsupported()

    def endpoint_status(self, items: Sequence[EndpointStatus]) -> None:
        raise self.unsupported()

    def endpoint_hash(self, items: Sequence[EndpointHash]) -> None:
        raise self.unsupported()

    def alarms(self, response: AlarmList) -> None:
        raise self.unsupported()

    def move_leader(self, response: MoveLeader) -> None:
        raise self.unsupported()

    # ---- authentication: auth, user, role ----

    def auth_ack(self, response: AuthAck) -> None:
        raise self.unsupported()

    def role_get(self, response: RoleInfo) -> None:
        raise self.unsupported()

    def name_list(self, response: NameList) -> None:
        raise self.unsupported()

    def user_get(self, response: UserInfo) -> None:
        raise self.unsupported()

    def auth_status(self, response: AuthStatus) -> None:
        raise self.unsupported()
