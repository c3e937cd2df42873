"""Membership as a cluster replicates it: member records in conf-change contexts and
snapshots, and etcd's rules for a change (ValidateConfigurationChange and the strict
reconfiguration checks), with etcd's errors.

A change is checked twice, as etcd checks it: before it is proposed, on the member that
was asked (``check_add`` and friends: quorum safety, which depends on who is
connected), and when it is applied, on every member, against the member list of that
moment (``validate``: ids and URLs), so that two racing changes cannot both pass.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from etcd3py import _etcd_errors as E

from ..errors import ServerError
from ..raft import ConfChange, ConfChangeType
from ..server.membership import MemberInfo, member_id

MAX_LEARNERS = 1  # etcd's maxLearners
LEARNER_READY_PERCENT = 0.9  # etcd's readyPercent: a learner this close may be promoted


def record(member: MemberInfo) -> dict[str, Any]:
    return {
        "id": member.id,
        "name": member.name,
        "peerURLs": list(member.peer_urls),
        "clientURLs": list(member.client_urls),
        "isLearner": member.is_learner,
    }


def from_record(data: dict[str, Any]) -> MemberInfo:
    return MemberInfo(
        int(data["id"]),
        str(data["name"]),
        list(data["peerURLs"]),
        list(data["clientURLs"]),
        bool(data["isLearner"]),
    )


@dataclass(frozen=True)
class Change:
    """A conf change with what etcd puts in its context: the request id that the member
    which proposed it waits on, and the member record."""

    request_id: int
    conf: ConfChange
    member: MemberInfo

    def context(self) -> bytes:
        return json.dumps({"request": self.request_id, "member": record(self.member)}).encode()

    @classmethod
    def of(cls, conf: ConfChange) -> Change:
        data = json.loads(conf.context)
        return cls(int(data["request"]), conf, from_record(data["member"]))


def new_member_id(peer_urls: Iterable[str], cluster_token: str) -> int:
    """An added member's id: etcd hashes its peer URLs, the cluster token and the time,
    so that a member added again with the same URLs gets a new id."""
    return member_id(peer_urls, cluster_token + str(int(time.time()))) or 1


# ---- applied: etcd's ValidateConfigurationChange ----


def validate(members: list[MemberInfo], removed: set[int], change: Change) -> None:
    """Raise etcd's error when ``change`` cannot apply to ``members`` now."""
    conf, member = change.conf, change.member
    if conf.node_id in removed:
        raise ServerError(E.MEMBER_NOT_FOUND)  # etcd maps ErrIDRemoved to it
    by_id = {m.id: m for m in members}
    if conf.type in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER):
        if conf.node_id in by_id:
            current = by_id[conf.node_id]
            if conf.type is ConfChangeType.ADD_NODE and current.is_learner:
                return  # a promotion
            raise ServerError(E.MEMBER_EXIST)
        _check_urls_free(members, member.peer_urls, conf.node_id)
        learners = sum(m.is_learner for m in members)
        if conf.type is ConfChangeType.ADD_LEARNER and learners >= MAX_LEARNERS:
            raise ServerError(E.TOO_MANY_LEARNERS)
    elif conf.type is ConfChangeType.REMOVE_NODE:
        if conf.node_id not in by_id:
            raise ServerError(E.MEMBER_NOT_FOUND)
    elif conf.type is ConfChangeType.UPDATE_NODE:
        if conf.node_id not in by_id:
            raise ServerError(E.MEMBER_NOT_FOUND)
        _check_urls_free(members, member.peer_urls, conf.node_id)


def _check_urls_free(members: list[MemberInfo], urls: list[str], owner: int) -> None:
    taken = {url for m in members if m.id != owner for url in m.peer_urls}
    if taken.intersection(urls):
        raise ServerError(E.PEER_URL_EXIST)


def apply(members: list[MemberInfo], removed: set[int], change: Change, local: MemberInfo) -> None:
    """Change ``members`` in place. The local member joins as ``local`` (the record the
    server holds, with the name and client URLs it was started with)."""
    conf, member = change.conf, change.member
    if member.id == local.id:
        local.peer_urls = list(member.peer_urls)
        member = local
    by_id = {m.id: m for m in members}
    current = by_id.get(conf.node_id)
    if conf.type is ConfChangeType.ADD_NODE and current is not None:
        current.is_learner = False
    elif conf.type in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER):
        member.is_learner = conf.type is ConfChangeType.ADD_LEARNER
        members.append(member)
        members.sort(key=lambda m: m.id)  # etcd lists its members by id
    elif conf.type is ConfChangeType.REMOVE_NODE and current is not None:
        members.remove(current)
        removed.add(conf.node_id)
    elif conf.type is ConfChangeType.UPDATE_NODE and current is not None:
        current.peer_urls = list(member.peer_urls)


# ---- before proposing: etcd's strict reconfiguration checks ----


def check_add_voter(members: list[MemberInfo]) -> None:
    """etcd's IsReadyToAddVotingMember: with the new member, enough started members
    (ones that published a name) for a quorum."""
    voters = [m for m in members if not m.is_learner]
    started = sum(1 for m in voters if m.name)
    if started < (len(voters) + 1) // 2 + 1:
        raise ServerError(E.MEMBER_NOT_ENOUGH_STARTED)


def check_remove(
    members: list[MemberInfo], member_id: int, active: set[int], long: set[int]
) -> None:
    """etcd's mayRemoveMember: a learner, or a member not connected now, may go;
    otherwise the voters connected for a while, less the one removed, must still make a
    quorum of the voters left. ``active``: members connected now; ``long``: for
    HEALTH_INTERVAL (the member asked counts in both)."""
    target = next((m for m in members if m.id == member_id), None)
    if target is None:
        raise ServerError(E.MEMBER_NOT_FOUND)
    if target.is_learner:
        return
    voters = [m for m in members if not m.is_learner]
    started = sum(1 for m in voters if m.name and m.id != member_id)
    if started < (len(voters) - 1) // 2 + 1:
        raise ServerError(E.MEMBER_NOT_ENOUGH_STARTED)
    if member_id not in active:
        return  # a member that is down is not part of the active quorum
    connected = sum(1 for m in voters if m.id in long)
    if connected - 1 < 1 + (len(voters) - 1) // 2:
        raise ServerError(E.UNHEALTHY)


def check_promote(members: list[MemberInfo], member_id: int) -> MemberInfo:
    target = next((m for m in members if m.id == member_id), None)
    if target is None:
        raise ServerError(E.MEMBER_NOT_FOUND)
    if not target.is_learner:
        raise ServerError(E.MEMBER_NOT_LEARNER)
    voters = [m for m in members if not m.is_learner]
    started = sum(1 for m in voters if m.name)
    if started < (len(voters) + 1) // 2 + 1:
        raise ServerError(E.MEMBER_NOT_ENOUGH_STARTED)
    return target


# ---- snapshots: the member list travels beside the db ----

_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class Beside:
    """What a snapshot carries beside the db: what etcd keeps outside its backend (in
    its v2 store): the members with their client URLs, the removed ids, the cluster
    version."""

    members: list[MemberInfo]
    removed: set[int]
    cluster_version: str | None


def pack_snapshot(beside: Beside, db: bytes) -> bytes:
    """A Raft snapshot's data: ``beside``, then the etcd db file."""
    header = json.dumps(
        {
            "members": [record(m) for m in beside.members],
            "removed": sorted(beside.removed),
            "cluster_version": beside.cluster_version,
        }
    ).encode()
    return _LENGTH.pack(len(header)) + header + db


def unpack_snapshot(data: bytes) -> tuple[Beside, bytes]:
    (length,) = _LENGTH.unpack_from(data)
    header = json.loads(data[_LENGTH.size : _LENGTH.size + length])
    beside = Beside(
        [from_record(m) for m in header["members"]],
        {int(i) for i in header["removed"]},
        header["cluster_version"],
    )
    return beside, data[_LENGTH.size + length :]
