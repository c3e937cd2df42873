"""A server's state as etcd 3.5 keeps it in its backend (bbolt db), captured and restored.

``capture`` takes what etcd's db holds after the last applied entry: every kept
revision record of the key space, the compaction point, the leases (id and TTL), the
members, the alarms, the auth store (enabled flag, auth revision, users and roles as
marshalled authpb messages), the consistent index (the raft index of that entry; entries
logged but not yet durable, so not applied, are not in it) and the term.
``write_db(capture(server))`` is the db etcd would have, and Maintenance.Snapshot
streams it. ``restore`` loads such a state into a fresh server, as etcd loads its db
on start.

Taking the state is cheap (``freeze``: references to versions that never change);
turning it into records and a db file is not, and may run in another thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..mvcc.store import KeyHistory
from ..storage import etcd_db
from ..storage.hash import hash_db
from .membership import MemberInfo, cluster_id
from .server import EtcdServer

# etcd 3.5.1 records its cluster version as major.minor.0
CLUSTER_VERSION = "3.5.0"


@dataclass(frozen=True)
class FrozenState:
    """The state at one applied index, made of values that later changes leave alone:
    ``to_state``, ``db`` and ``hash`` may run in any thread."""

    keys: KeyHistory
    leases: tuple[etcd_db.Lease, ...]
    members: tuple[etcd_db.Member, ...]
    alarms: tuple[etcd_db.Alarm, ...]
    consistent_index: int
    term: int
    auth_enabled: bool | None  # None: no record yet
    auth_revision: int
    auth_users: dict[bytes, bytes]  # fresh copies: nothing else holds them
    auth_roles: dict[bytes, bytes]

    def to_state(self) -> etcd_db.EtcdState:
        state = etcd_db.EtcdState(
            records=self.keys.records(),
            compact_revision=self.keys.compact_revision,
            scheduled_compact_revision=self.keys.compact_revision,  # compaction is atomic here
            leases=list(self.leases),
            members=list(self.members),
            cluster_version=CLUSTER_VERSION,
            alarms=list(self.alarms),
            consistent_index=self.consistent_index,
            term=self.term,
            auth_enabled=self.auth_enabled,
            auth_revision=self.auth_revision,
            auth_users=dict(self.auth_users),
            auth_roles=dict(self.auth_roles),
        )
        assert state.revision == self.keys.revision, "the records imply another revision"
        return state

    def db(self) -> bytes:
        """The etcd 3.5 db file holding this state."""
        return etcd_db.write_db(self.to_state())

    def hash(self) -> int:
        """etcd's Hash RPC: CRC-32C of the whole db but its consistent index and term."""
        return hash_db(etcd_db.state_buckets(self.to_state()))


def freeze(server: EtcdServer) -> FrozenState:
    """The server's state now, cheaply; call it on the server's event loop."""
    users, roles = server.auth.records()
    return FrozenState(
        keys=server.store.freeze(),
        leases=tuple(etcd_db.Lease(lease.id, lease.ttl) for lease in server.lessor.leases()),
        members=tuple(_recorded(m) for m in server.members),
        alarms=tuple(etcd_db.Alarm(member, alarm) for member, alarm in server.alarms.active),
        consistent_index=server.applied_index,
        term=server.raft_term,
        auth_enabled=server.auth.enabled_record(),
        auth_revision=server.auth.revision,
        auth_users=users,
        auth_roles=roles,
    )


def capture(server: EtcdServer) -> etcd_db.EtcdState:
    """The server's state now, as etcd's db would hold it; call it on the event loop."""
    return freeze(server).to_state()


def _recorded(member: MemberInfo) -> etcd_db.Member:
    """A member as etcd 3.5.1's db holds it: its name and peer URLs as when it joined,
    never its client URLs (3.5.1 does not write published attributes back)."""
    return etcd_db.Member(member.id, tuple(member.peer_urls), member.name, (), member.is_learner)


def restore(server: EtcdServer, state: etcd_db.EtcdState, *, members: bool = True) -> None:
    """Load ``state`` into ``server``, fresh and not yet serving, as etcd loads its db.

    Afterwards the server holds every record as the history of its key (so reads at
    every kept revision, watch replays and HashKV answer as before), its revision and
    compaction point (a scheduled compaction beyond the finished one is carried out,
    as etcd resumes it); every lease with its whole TTL again from now plus the
    election timeout, as etcd's lessor promotes them when its member leads, and the
    keys whose latest version names it; the alarms, with the write gates they raise;
    the members as recorded; and the raft index (applied too) and term the state was
    taken at. What a restart adds on top (``EtcdServer.restarted``: a new term, two
    entries) is the caller's; the auth store (users, roles, enabled, revision: an
    etcd snapshot's users log in with their passwords); not the removed members.
    Tokens are not in the state: they come back only from a replayed log.

    The local member is the recorded one with the server's id, or else the only
    recorded member (a member's data carries its identity); its name and client URLs
    stay those the server was configured with, as etcd publishes them on start.
    """
    if server.store.rev != 1 or server.lessor.ids():
        raise ValueError("restore() loads a fresh server")
    _load(server, state, members)


def replace(server: EtcdServer, state: etcd_db.EtcdState, *, members: bool = True) -> None:
    """Replace the whole state of a serving member with ``state`` (a snapshot from its
    leader): as ``restore``, after emptying it. Open watches stay: they go on from the
    loaded history, or are told it was compacted. ``members=False``: the member list
    is the caller's (a cluster's snapshot carries it beside the db)."""
    server.store.reset()
    server.lessor.clear()
    _load(server, state, members)


def _load(server: EtcdServer, state: etcd_db.EtcdState, members: bool) -> None:
    if members and state.members:
        _adopt_members(server, state.members)
    server.lessor.load((lease.id, lease.ttl) for lease in state.leases)
    server.lessor.promote()
    server.store.load(state.records, state.compact_revision, state.revision)
    if state.scheduled_compact_revision > state.compact_revision:
        server.store.compact(state.scheduled_compact_revision)
    server.alarms.active = [(alarm.member_id, alarm.alarm) for alarm in state.alarms]
    server.gate_by_alarms()
    server.auth.load(state.auth_enabled, state.auth_revision, state.auth_users, state.auth_roles)
    server.raft_index = server.applied_index = state.consistent_index
    server.raft_term = state.term


def _adopt_members(server: EtcdServer, recorded: list[etcd_db.Member]) -> None:
    local = next((m for m in recorded if m.id == server.member.id), None)
    if local is None:
        if len(recorded) != 1:
            known = ", ".join(f"{m.id:x}" for m in recorded)
            raise ValueError(
                f"member {server.member.id:x} is not among the recorded members {known}"
            )
        [local] = recorded
    ids = [m.id for m in recorded]
    server.adopt_identity(local.id, cluster_id(ids), server.member.name, list(local.peer_urls))
    server.members = [
        server.member
        if m is local
        else MemberInfo(m.id, m.name, list(m.peer_urls), list(m.client_urls), m.is_learner)
        for m in recorded
    ]
