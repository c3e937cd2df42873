"""Response types: thin read-only views over the protobuf messages.

Nothing is copied when a response arrives; fields are read from the message when
asked for, and lists of wrappers are built once, on first use.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._proto import auth_pb2, kv_pb2, rpc_pb2, v3election_pb2, v3lock_pb2


class KeyValue:
    """One version of a key."""

    __slots__ = ("_pb",)

    def __init__(self, pb: kv_pb2.KeyValue) -> None:
        self._pb = pb

    @property
    def key(self) -> bytes:
        """The key."""
        return self._pb.key

    @property
    def value(self) -> bytes:
        """The value (empty with ``keys_only=True``)."""
        return self._pb.value

    @property
    def create_revision(self) -> int:
        """The revision that created the key (since its last delete)."""
        return self._pb.create_revision

    @property
    def mod_revision(self) -> int:
        """The revision of this version: the last change to the key."""
        return self._pb.mod_revision

    @property
    def version(self) -> int:
        """How many times the key was written since it was created (1 for a new key); a delete
        resets it.
        """
        return self._pb.version

    @property
    def lease(self) -> int:
        """Id of the lease attached to the key; 0 when none."""
        return self._pb.lease

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyValue) and self._pb == other._pb

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        pb = self._pb
        return (
            f"KeyValue(key={pb.key!r}, value={pb.value!r}, create_revision="
            f"{pb.create_revision}, mod_revision={pb.mod_revision}, version={pb.version}, "
            f"lease={pb.lease})"
        )


class Header:
    """Who answered, and the store revision the answer reflects."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.ResponseHeader) -> None:
        self._pb = pb

    @property
    def cluster_id(self) -> int:
        """Id of the cluster that answered."""
        return self._pb.cluster_id

    @property
    def member_id(self) -> int:
        """Id of the member that answered."""
        return self._pb.member_id

    @property
    def revision(self) -> int:
        """The store's revision when the request was served (for a write: the write's revision)."""
        return self._pb.revision

    @property
    def raft_term(self) -> int:
        """The raft term of the answering member."""
        return self._pb.raft_term

    def __repr__(self) -> str:
        pb = self._pb
        return (
            f"Header(cluster_id={pb.cluster_id:x}, member_id={pb.member_id:x}, "
            f"revision={pb.revision}, raft_term={pb.raft_term})"
        )


def _kv_or_none(message: Any, field: str) -> KeyValue | None:
    return KeyValue(getattr(message, field)) if message.HasField(field) else None


class GetResponse:
    """The answer to ``get``: the key-values, how many matched, whether more remain."""

    __slots__ = ("_kvs", "_pb")

    def __init__(self, pb: rpc_pb2.RangeResponse) -> None:
        self._pb = pb
        self._kvs: list[KeyValue] | None = None

    @property
    def header(self) -> Header:
        """Who answered, and the revision the read reflects."""
        return Header(self._pb.header)

    @property
    def kvs(self) -> list[KeyValue]:
        """The key-values that matched, in the order asked for (empty when none did)."""
        if self._kvs is None:
            self._kvs = [KeyValue(kv) for kv in self._pb.kvs]
        return self._kvs

    @property
    def count(self) -> int:
        """Keys in the range, regardless of the limit."""
        return self._pb.count

    @property
    def more(self) -> bool:
        """True when the limit left keys out."""
        return self._pb.more

    @property
    def value(self) -> bytes | None:
        """The value of the first key-value, or None when nothing matched."""
        kvs = self._pb.kvs
        return kvs[0].value if kvs else None

    def __iter__(self) -> Iterator[KeyValue]:
        return iter(self.kvs)

    def __len__(self) -> int:
        return len(self._pb.kvs)

    def __repr__(self) -> str:
        return f"GetResponse(count={self.count}, more={self.more}, kvs={self.kvs!r})"


class PutResponse:
    """The answer to ``put``: ``header.revision`` is the revision of the write."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.PutResponse) -> None:
        self._pb = pb

    @property
    def header(self) -> Header:
        """Who answered; ``revision`` is the revision the put created."""
        return Header(self._pb.header)

    @property
    def prev_kv(self) -> KeyValue | None:
        """The version replaced, when asked for with ``prev_kv=True`` and there was one."""
        return _kv_or_none(self._pb, "prev_kv")

    def __repr__(self) -> str:
        return f"PutResponse(revision={self._pb.header.revision}, prev_kv={self.prev_kv!r})"


class DeleteResponse:
    """The answer to ``delete``: how many keys went (and, with ``prev_kv=True``, what they held)."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.DeleteRangeResponse) -> None:
        self._pb = pb

    @property
    def header(self) -> Header:
        """Who answered; ``revision`` is the delete's revision when something was deleted."""
        return Header(self._pb.header)

    @property
    def deleted(self) -> int:
        """The number of keys deleted (0 when none matched: not an error)."""
        return self._pb.deleted

    @property
    def prev_kvs(self) -> list[KeyValue]:
        """The deleted key-values, when asked for with ``prev_kv=True`` (else empty)."""
        return [KeyValue(kv) for kv in self._pb.prev_kvs]

    def __repr__(self) -> str:
        return f"DeleteResponse(deleted={self.deleted}, revision={self._pb.header.revision})"


class TxnResponse:
    """``succeeded`` tells which branch ran; ``responses`` holds one answer per operation."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.TxnResponse) -> None:
        self._pb = pb

    @property
    def header(self) -> Header:
        """Who answered, and the revision after the transaction."""
        return Header(self._pb.header)

    @property
    def succeeded(self) -> bool:
        """True when every comparison held and ``success`` ran; False when ``failure`` ran."""
        return self._pb.succeeded

    @property
    def responses(self) -> list[GetResponse | PutResponse | DeleteResponse | TxnResponse]:
        """One answer per operation of the branch that ran, in order: GetResponse, PutResponse,
        DeleteResponse or TxnResponse.
        """
        return [op_response(r) for r in self._pb.responses]

    def __repr__(self) -> str:
        return f"TxnResponse(succeeded={self.succeeded}, responses={self.responses!r})"


def op_response(r: rpc_pb2.ResponseOp) -> GetResponse | PutResponse | DeleteResponse | TxnResponse:
    kind = r.WhichOneof("response")
    if kind == "response_range":
        return GetResponse(r.response_range)
    if kind == "response_put":
        return PutResponse(r.response_put)
    if kind == "response_delete_range":
        return DeleteResponse(r.response_delete_range)
    return TxnResponse(r.response_txn)


class EventType(enum.IntEnum):
    """What a watch event reports: PUT (a key created or changed) or DELETE (a key deleted, or gone
    with its lease).
    """

    PUT = kv_pb2.Event.PUT
    DELETE = kv_pb2.Event.DELETE


class Event:
    """A change seen by a watch. For a DELETE, ``kv`` holds the key and revision only."""

    __slots__ = ("_pb",)

    def __init__(self, pb: kv_pb2.Event) -> None:
        self._pb = pb

    @property
    def type(self) -> EventType:
        """PUT or DELETE."""
        return EventType(self._pb.type)

    @property
    def kv(self) -> KeyValue:
        """The key-value after the change; a DELETE sets only its key and ``mod_revision``."""
        return KeyValue(self._pb.kv)

    @property
    def prev_kv(self) -> KeyValue | None:
        """The version before the change, when the watch asked for it (``prev_kv=True``)."""
        return _kv_or_none(self._pb, "prev_kv")

    @property
    def key(self) -> bytes:
        """The changed key (``kv.key``)."""
        return self._pb.kv.key

    @property
    def value(self) -> bytes:
        """The new value (``kv.value``); empty for a DELETE."""
        return self._pb.kv.value

    @property
    def revision(self) -> int:
        """The revision of the change (``kv.mod_revision``)."""
        return self._pb.kv.mod_revision

    def __repr__(self) -> str:
        kv = self._pb.kv
        return f"Event({self.type.name} {kv.key!r}={kv.value!r} @{kv.mod_revision})"


class WatchResponse:
    """One delivery of a watch: the events of one or more whole revisions."""

    __slots__ = (
        "_event_list",
        "_events",
        "_header",
        "compact_revision",
        "is_progress_notify",
        "progress_requested",
    )

    def __init__(
        self,
        header: rpc_pb2.ResponseHeader,
        events: Sequence[kv_pb2.Event],
        compact_revision: int = 0,
        is_progress_notify: bool = False,
        progress_requested: bool = False,
    ) -> None:
        self._header = header
        self._events = events
        self._event_list: list[Event] | None = None
        self.compact_revision = compact_revision
        self.is_progress_notify = is_progress_notify
        # An answer to request_progress() (etcd's watch id -1), not the watch's own notice.
        # etcd 3.5.1 sends it from the stream's control channel, which races the events
        # (server/etcdserver/api/v3rpc/watch.go): events of revisions it covers may come
        # after it, so it tells the server's revision, not what this watch has seen.
        self.progress_requested = progress_requested

    @property
    def header(self) -> Header:
        """Who answered; for a progress notification of the watch's own, the revision the
        watch has seen everything up to (not so for ``progress_requested``: see there).
        """
        return Header(self._header)

    @property
    def events(self) -> list[Event]:
        """The events, in revision order, all of each revision together; empty for a progress
        notification.
        """
        if self._event_list is None:
            self._event_list = list(map(Event, self._events))
        return self._event_list

    def __repr__(self) -> str:
        kind = " progress" if self.is_progress_notify else ""
        return f"WatchResponse(revision={self._header.revision}{kind}, events={self.events!r})"


class LeaseInfo:
    """What ``time_to_live`` reports: remaining and granted TTL, attached keys."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.LeaseTimeToLiveResponse) -> None:
        self._pb = pb

    @property
    def id(self) -> int:
        """The lease id."""
        return self._pb.ID

    @property
    def ttl(self) -> int:
        """Seconds left; -1 when the lease does not exist."""
        return self._pb.TTL

    @property
    def granted_ttl(self) -> int:
        """The TTL the lease was granted with, in seconds (after etcd's minimum was applied)."""
        return self._pb.grantedTTL

    @property
    def keys(self) -> list[bytes]:
        """The keys attached to the lease, when asked for with ``keys=True``."""
        return list(self._pb.keys)

    @property
    def header(self) -> Header:
        """Who answered."""
        return Header(self._pb.header)

    def __repr__(self) -> str:
        return f"LeaseInfo(id={self.id:x}, ttl={self.ttl}, granted_ttl={self.granted_ttl})"


class Member:
    """A member of the cluster, as ``member_list`` reports it."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.Member) -> None:
        self._pb = pb

    @property
    def id(self) -> int:
        """The member id."""
        return self._pb.ID

    @property
    def name(self) -> str:
        """Empty until the member has started."""
        return self._pb.name

    @property
    def peer_urls(self) -> list[str]:
        """The URLs other members reach this one at."""
        return list(self._pb.peerURLs)

    @property
    def client_urls(self) -> list[str]:
        """The URLs clients reach this member at; empty until it has started."""
        return list(self._pb.clientURLs)

    @property
    def is_learner(self) -> bool:
        """True for a learner: it receives the log but does not vote (see ``member_promote``)."""
        return self._pb.isLearner

    def __repr__(self) -> str:
        return f"Member(id={self.id:x}, name={self.name!r}, client_urls={self.client_urls})"


class Status:
    """One member's view of itself: version, database size, raft position and leader."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.StatusResponse) -> None:
        self._pb = pb

    @property
    def header(self) -> Header:
        """Who answered, and its store revision."""
        return Header(self._pb.header)

    @property
    def version(self) -> str:
        """The etcd version the member runs (server_ref reports the API level it serves, 3.5.1)."""
        return self._pb.version

    @property
    def db_size(self) -> int:
        """The size of the member's database file, in bytes."""
        return self._pb.dbSize

    @property
    def db_size_in_use(self) -> int:
        """The part of the database file in use, in bytes (defragmenting gives the rest back)."""
        return self._pb.dbSizeInUse

    @property
    def leader(self) -> int:
        """The member id of the current leader (0 when there is none)."""
        return self._pb.leader

    @property
    def raft_index(self) -> int:
        """The member's last raft log index."""
        return self._pb.raftIndex

    @property
    def raft_applied_index(self) -> int:
        """The last raft log index the member has applied."""
        return self._pb.raftAppliedIndex

    @property
    def raft_term(self) -> int:
        """The member's raft term."""
        return self._pb.raftTerm

    @property
    def member_id(self) -> int:
        """The id of the member that answered."""
        return self._pb.header.member_id

    @property
    def is_learner(self) -> bool:
        """True when the member is a learner."""
        return self._pb.isLearner

    @property
    def errors(self) -> list[str]:
        """Alarm and health messages of the member (empty when all is well)."""
        return list(self._pb.errors)

    def __repr__(self) -> str:
        return (
            f"Status(version={self.version!r}, member_id={self.member_id:x}, "
            f"leader={self.leader:x}, raft_term={self.raft_term})"
        )


class AlarmType(enum.IntEnum):
    """An alarm kind: NOSPACE (the database reached its quota) or CORRUPT (a corruption check
    failed).
    """

    NONE = rpc_pb2.NONE
    NOSPACE = rpc_pb2.NOSPACE
    CORRUPT = rpc_pb2.CORRUPT


class Alarm:
    """An alarm raised on one member: ``member_id`` and ``alarm`` (an AlarmType)."""

    __slots__ = ("alarm", "member_id")

    def __init__(self, member_id: int, alarm: AlarmType) -> None:
        self.member_id = member_id
        self.alarm = alarm

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alarm) and (self.member_id, self.alarm) == (
            other.member_id,
            other.alarm,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Alarm(member_id={self.member_id:x}, alarm={self.alarm.name})"


class Permission(enum.IntEnum):
    """What a role may do over a key range: READ, WRITE or READWRITE."""

    READ = auth_pb2.Permission.READ
    WRITE = auth_pb2.Permission.WRITE
    READWRITE = auth_pb2.Permission.READWRITE


class KeyPermission:
    """A role's permission over a key or a range of keys."""

    __slots__ = ("key", "perm", "range_end")

    def __init__(self, perm: Permission, key: bytes, range_end: bytes) -> None:
        self.perm = perm
        self.key = key
        self.range_end = range_end

    def __repr__(self) -> str:
        return f"KeyPermission({self.perm.name}, {self.key!r}, {self.range_end!r})"


class LockResponse:
    """A lock taken with etcd's Lock service: ``key`` is held until it is unlocked
    or its lease ends."""

    __slots__ = ("_pb",)

    def __init__(self, pb: v3lock_pb2.LockResponse) -> None:
        self._pb = pb

    @property
    def key(self) -> bytes:
        """The lock's key, ``<name>/<lease id hex>``: pass it to ``unlock``."""
        return self._pb.key

    @property
    def header(self) -> Header:
        """Who answered; ``revision`` is the revision at which the lock was acquired."""
        return Header(self._pb.header)

    def __repr__(self) -> str:
        return f"LockResponse(key={self.key!r}, revision={self._pb.header.revision})"


@dataclass(frozen=True)
class LeaderKey:
    """What proves leadership won with etcd's Election service.

    Plain data, so that a process can store it and proclaim or resign later:
    ``revision`` is the create revision of ``key``, which hangs on ``lease``.
    """

    name: bytes
    key: bytes
    revision: int
    lease: int

    def to_proto(self) -> v3election_pb2.LeaderKey:
        """The protobuf LeaderKey that etcd's Election service takes."""
        return v3election_pb2.LeaderKey(
            name=self.name, key=self.key, rev=self.revision, lease=self.lease
        )
