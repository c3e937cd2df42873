"""etcd 3.5's backend schema on top of bbolt: the state a db file (and a snapshot) holds.

The buckets and encodings are etcd 3.5.1's (server/mvcc/buckets, kvstore, lease,
membership, cindex, alarm, auth):

- ``key``: one record per revision of a key. Its bbolt key is the revision: 8-byte
  big-endian main revision, ``_``, 8-byte big-endian sub revision, and ``t`` for a
  tombstone; its value is a marshalled ``mvccpb.KeyValue`` (a tombstone holds the key only).
- ``meta``: ``consistent_index`` and ``term`` (8-byte big-endian), ``confState`` (JSON),
  ``scheduledCompactRev`` and ``finishedCompactRev`` (a 17-byte revision).
- ``lease``: 8-byte big-endian lease id -> ``leasepb.Lease`` (ID=1, TTL=2, RemainingTTL=3).
- ``members``: member id in hex -> the member as JSON; ``members_removed``: id -> "removed".
- ``cluster``: ``clusterVersion`` -> e.g. ``3.5.0``.
- ``alarm``: a marshalled ``AlarmMember`` -> empty.
- ``auth``: ``authEnabled`` (one byte, 1 or 0; none before auth was first enabled) and
  ``authRevision`` (8-byte big-endian); ``authUsers``/``authRoles``: name -> marshalled
  ``authpb.User``/``authpb.Role``.

The cluster id is not in the db (etcd keeps it in the WAL's metadata).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

from etcd3py._proto import kv_pb2, rpc_pb2

from .bbolt import Bucket, read_bbolt, write_bbolt

KEY = b"key"
META = b"meta"
LEASE = b"lease"
ALARM = b"alarm"
CLUSTER = b"cluster"
MEMBERS = b"members"
MEMBERS_REMOVED = b"members_removed"
AUTH = b"auth"
AUTH_USERS = b"authUsers"
AUTH_ROLES = b"authRoles"
BUCKETS = (KEY, META, LEASE, ALARM, CLUSTER, MEMBERS, MEMBERS_REMOVED, AUTH, AUTH_USERS, AUTH_ROLES)

CONSISTENT_INDEX = b"consistent_index"
TERM = b"term"
CONF_STATE = b"confState"
SCHEDULED_COMPACT = b"scheduledCompactRev"
FINISHED_COMPACT = b"finishedCompactRev"
CLUSTER_VERSION = b"clusterVersion"
AUTH_ENABLED = b"authEnabled"
AUTH_REVISION = b"authRevision"

REVISION = struct.Struct(">QcQ")  # main, "_", sub
TOMBSTONE = b"t"
_U64 = struct.Struct(">Q")
NOT_COMPACTED = -1  # etcd's compactMainRev before any compaction


class EtcdDbError(ValueError):
    """A bbolt file that does not hold etcd 3.5's schema as etcd writes it."""


@dataclass(frozen=True)
class KeyRecord:
    """One record of the key bucket: a put (the key-value as of ``main``) or a tombstone."""

    key: bytes
    main: int  # the revision of the change; a put's mod_revision
    sub: int = 0  # its index within the revision's changes
    create_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0
    tombstone: bool = False

    @property
    def mod_revision(self) -> int:
        return self.main


@dataclass(frozen=True)
class Lease:
    id: int
    ttl: int
    remaining_ttl: int = 0  # set by lease checkpoints; 0 when never checkpointed


@dataclass(frozen=True)
class Member:
    id: int
    peer_urls: tuple[str, ...]
    name: str = ""  # empty until the member publishes its attributes
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False


@dataclass(frozen=True)
class Alarm:
    member_id: int
    alarm: int  # etcdserverpb.AlarmType: 1 NOSPACE, 2 CORRUPT


@dataclass
class EtcdState:
    """What an etcd 3.5 db holds, in neutral form."""

    records: list[KeyRecord] = field(default_factory=list)  # in revision order
    compact_revision: int = NOT_COMPACTED  # finishedCompactRev
    scheduled_compact_revision: int = NOT_COMPACTED  # above compact_revision if cut short
    leases: list[Lease] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    removed_member_ids: list[int] = field(default_factory=list)
    cluster_version: str | None = None
    alarms: list[Alarm] = field(default_factory=list)
    consistent_index: int = 0
    term: int = 0
    auth_enabled: bool | None = None  # None: no record (etcd writes one when enabling)
    auth_revision: int = 1  # a fresh etcd's
    auth_users: dict[bytes, bytes] = field(default_factory=dict)  # marshalled authpb.User
    auth_roles: dict[bytes, bytes] = field(default_factory=dict)  # marshalled authpb.Role

    @property
    def revision(self) -> int:
        """The current revision, as etcd derives it on start (at least 1)."""
        last = self.records[-1].main if self.records else 1
        return max(last, self.compact_revision)


# ---------------------------------------------------------------------- encodings


def revision_key(main: int, sub: int = 0, tombstone: bool = False) -> bytes:
    return REVISION.pack(main, b"_", sub) + (TOMBSTONE if tombstone else b"")


def parse_revision_key(raw: bytes) -> tuple[int, int, bool]:
    """(main, sub, tombstone) of a key-bucket key."""
    if len(raw) not in (REVISION.size, REVISION.size + 1) or raw[8:9] != b"_":
        raise EtcdDbError(f"not a revision: {raw!r}")
    if len(raw) > REVISION.size and raw[-1:] != TOMBSTONE:
        raise EtcdDbError(f"revision with unknown mark: {raw!r}")
    main, _, sub = REVISION.unpack_from(raw)
    return main, sub, len(raw) > REVISION.size


def encode_record(record: KeyRecord) -> tuple[bytes, bytes]:
    """The record's (bbolt key, value) as etcd writes them."""
    key = revision_key(record.main, record.sub, record.tombstone)
    if record.tombstone:
        return key, kv_pb2.KeyValue(key=record.key).SerializeToString()
    kv = kv_pb2.KeyValue(
        key=record.key,
        create_revision=record.create_revision,
        mod_revision=record.main,
        version=record.version,
        value=record.value,
        lease=record.lease,
    )
    return key, kv.SerializeToString()


def decode_record(raw_key: bytes, raw_value: bytes) -> KeyRecord:
    main, sub, tombstone = parse_revision_key(raw_key)
    kv = kv_pb2.KeyValue.FromString(raw_value)
    if tombstone:
        return KeyRecord(kv.key, main, sub, tombstone=True)
    return KeyRecord(kv.key, main, sub, kv.create_revision, kv.version, kv.value, kv.lease)


def _varint(n: int) -> bytes:
    n &= 0xFFFF_FFFF_FFFF_FFFF  # int64 fields: negative values take ten bytes
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _varint_fields(raw: bytes) -> dict[int, int]:
    """The varint fields of a message (field number -> int64), others rejected."""
    fields, pos = {}, 0
    while pos < len(raw):
        tag, pos = _read_varint(raw, pos)
        if tag & 7 != 0:
            raise EtcdDbError(f"unexpected wire type {tag & 7} in {raw!r}")
        value, pos = _read_varint(raw, pos)
        fields[tag >> 3] = value - (1 << 64) if value >= 1 << 63 else value
    return fields


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise EtcdDbError(f"truncated varint in {raw!r}")
        byte = raw[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def encode_lease(lease: Lease) -> bytes:
    """``leasepb.Lease`` as gogo-protobuf marshals it (zero fields left out)."""
    fields = ((1, lease.id), (2, lease.ttl), (3, lease.remaining_ttl))
    return b"".join(_varint(num << 3) + _varint(value) for num, value in fields if value)


def decode_lease(raw: bytes) -> Lease:
    fields = _varint_fields(raw)
    return Lease(fields.get(1, 0), fields.get(2, 0), fields.get(3, 0))


def _go_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode_member(member: Member) -> bytes:
    """The member as etcd's ``json.Marshal(membership.Member)`` writes it."""
    doc: dict[str, object] = {"id": member.id, "peerURLs": list(member.peer_urls)}
    if member.is_learner:
        doc["isLearner"] = True
    if member.name:
        doc["name"] = member.name
    if member.client_urls:
        doc["clientURLs"] = list(member.client_urls)
    return _go_json(doc)


def decode_member(raw_key: bytes, raw: bytes) -> Member:
    doc = json.loads(raw)
    member_id = int(raw_key, 16)
    return Member(
        member_id,
        tuple(doc.get("peerURLs") or ()),
        doc.get("name", ""),
        tuple(doc.get("clientURLs") or ()),
        bool(doc.get("isLearner", False)),
    )


def conf_state(members: list[Member]) -> bytes:
    """raftpb.ConfState as etcd stores it in meta (JSON, empty lists left out)."""
    doc: dict[str, object] = {"voters": sorted(m.id for m in members if not m.is_learner)}
    learners = sorted(m.id for m in members if m.is_learner)
    if learners:
        doc["learners"] = learners
    if not doc["voters"]:
        del doc["voters"]
    doc["auto_leave"] = False
    return _go_json(doc)


# ---------------------------------------------------------------------- the db


def state_buckets(state: EtcdState) -> Bucket:
    """The root bucket holding ``state`` in etcd's schema."""
    keys = Bucket()
    previous = (0, 0)
    for record in state.records:
        if (record.main, record.sub) <= previous:
            raise ValueError(f"records out of revision order at {record.main}.{record.sub}")
        previous = (record.main, record.sub)
        raw_key, raw_value = encode_record(record)
        keys.entries[raw_key] = raw_value
    meta = Bucket()
    meta.entries[CONSISTENT_INDEX] = _U64.pack(state.consistent_index)
    meta.entries[TERM] = _U64.pack(state.term)
    if state.members:
        meta.entries[CONF_STATE] = conf_state(state.members)
    if state.compact_revision > 0:
        meta.entries[FINISHED_COMPACT] = revision_key(state.compact_revision)
    scheduled = max(state.scheduled_compact_revision, state.compact_revision)
    if scheduled > 0:
        meta.entries[SCHEDULED_COMPACT] = revision_key(scheduled)
    auth = Bucket({AUTH_REVISION: _U64.pack(state.auth_revision)})
    if state.auth_enabled is not None:  # disabling writes 0, as etcd does
        auth.entries[AUTH_ENABLED] = b"\x01" if state.auth_enabled else b"\x00"
    buckets = {
        KEY: keys,
        META: meta,
        LEASE: _unique("lease", [(_U64.pack(x.id), encode_lease(x)) for x in state.leases]),
        ALARM: _unique("alarm", [(_alarm_key(alarm), b"") for alarm in state.alarms]),
        CLUSTER: Bucket(
            {CLUSTER_VERSION: state.cluster_version.encode()} if state.cluster_version else {}
        ),
        MEMBERS: _unique("member", [(_member_key(m.id), encode_member(m)) for m in state.members]),
        MEMBERS_REMOVED: _unique(
            "removed member", [(_member_key(i), b"removed") for i in state.removed_member_ids]
        ),
        AUTH: auth,
        AUTH_USERS: Bucket(dict(state.auth_users)),
        AUTH_ROLES: Bucket(dict(state.auth_roles)),
    }
    return Bucket(dict(sorted(buckets.items())))


def _unique(what: str, pairs: list[tuple[bytes, bytes]]) -> Bucket:
    """A bucket of ``pairs``, refusing two under one key (which etcd cannot hold)."""
    bucket = Bucket(dict(pairs))
    if len(bucket.entries) != len(pairs):
        raise ValueError(f"two {what} records under one key")
    return bucket


def _member_key(member_id: int) -> bytes:
    return format(member_id, "x").encode()  # types.ID.String(): hex, no padding


def _alarm_key(alarm: Alarm) -> bytes:
    member = rpc_pb2.AlarmMember(memberID=alarm.member_id, alarm=alarm.alarm)  # type: ignore[arg-type]
    return member.SerializeToString()


def write_db(state: EtcdState, *, page_size: int = 4096) -> bytes:
    """An etcd 3.5 db file holding ``state``."""
    return write_bbolt(state_buckets(state), page_size=page_size)


def read_db(data: bytes, name: str = "<bytes>") -> EtcdState:
    """The state held by an etcd 3.5 db file (one etcd wrote, or ``write_db``)."""
    root = read_bbolt(data, name).root
    try:
        return _state_of(root)
    except (EtcdDbError, ValueError, KeyError) as err:
        raise EtcdDbError(f"{name}: {err}") from None


def _bucket(root: Bucket, name: bytes) -> dict[bytes, bytes]:
    bucket = root.entries.get(name, Bucket())
    if not isinstance(bucket, Bucket):
        raise EtcdDbError(f"{name!r} is not a bucket")
    flat: dict[bytes, bytes] = {}
    for key, value in bucket.entries.items():
        if isinstance(value, Bucket):
            raise EtcdDbError(f"unexpected nested bucket {key!r} in {name!r}")
        flat[key] = value
    return flat


def _u64(raw: bytes | None) -> int:
    if raw is None:
        return 0
    if len(raw) != 8:
        raise EtcdDbError(f"expected 8 bytes, got {raw!r}")
    return int(_U64.unpack(raw)[0])


def _compact_rev(raw: bytes | None) -> int:
    return NOT_COMPACTED if raw is None else parse_revision_key(raw)[0]


def _state_of(root: Bucket) -> EtcdState:
    meta = _bucket(root, META)
    auth = _bucket(root, AUTH)
    enabled = auth.get(AUTH_ENABLED)
    cluster_version = _bucket(root, CLUSTER).get(CLUSTER_VERSION)
    return EtcdState(
        records=[decode_record(k, v) for k, v in _bucket(root, KEY).items()],
        compact_revision=_compact_rev(meta.get(FINISHED_COMPACT)),
        scheduled_compact_revision=_compact_rev(meta.get(SCHEDULED_COMPACT)),
        leases=[decode_lease(v) for v in _bucket(root, LEASE).values()],
        members=[decode_member(k, v) for k, v in _bucket(root, MEMBERS).items()],
        removed_member_ids=[int(k, 16) for k in _bucket(root, MEMBERS_REMOVED)],
        cluster_version=cluster_version.decode() if cluster_version is not None else None,
        alarms=[_decode_alarm(k) for k in _bucket(root, ALARM)],
        consistent_index=_u64(meta.get(CONSISTENT_INDEX)),
        term=_u64(meta.get(TERM)),
        auth_enabled=None if enabled is None else enabled == b"\x01",
        auth_revision=_u64(auth.get(AUTH_REVISION)),
        auth_users=_bucket(root, AUTH_USERS),
        auth_roles=_bucket(root, AUTH_ROLES),
    )


def _decode_alarm(raw: bytes) -> Alarm:
    member = rpc_pb2.AlarmMember.FromString(raw)
    return Alarm(member.memberID, int(member.alarm))
