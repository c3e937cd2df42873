"""Starting a cluster member three ways, as etcd does: a member of a new cluster
(``--initial-cluster-state new``), a member joining a running cluster after a
MemberAdd (``existing``), or a member restarting on what it persisted.

A new cluster's log starts, on every member alike, with one conf-change entry per
initial member (term 1, committed), as etcd-io/raft's StartNode writes it: so a
member's membership is always what its log (or the snapshot standing for its start)
says, and a restart rebuilds it by applying the log again.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..raft import ConfChange, ConfChangeType, Config, Entry, EntryKind, HardState, RaftNode
from ..raft.messages import encode_conf_change
from ..server.config import ServerConfig
from ..server.durable import identity
from ..server.membership import MemberInfo, cluster_id, member_id
from ..server.server import EtcdServer
from . import members as rules
from .member import MEMBERS, RaftMember, load_snapshot
from .storage import RaftStorage
from .timing import Timing
from .transport import Transport

MAX_INFLIGHT = 512  # etcd's maxInflightMsgs (4096 / 8)
MAX_SIZE_PER_MSG = 1024 * 1024  # etcd's maxSizePerMsg
FETCH_TIMEOUT = 5.0  # seconds to get the member list from a running cluster
JOIN_RETRY = 0.1  # seconds between two asks while no member lists the joiner yet


DEFAULT_TIMING = Timing()


class ClusterConfigError(ValueError):
    """The cluster flags do not describe a member that can start (etcd's texts)."""


@dataclass(frozen=True)
class ClusterSettings:
    """etcd's cluster flags, parsed."""

    initial_cluster: tuple[tuple[str, tuple[str, ...]], ...]  # (name, peer URLs), as given
    state: str = "new"  # --initial-cluster-state: new or existing
    timing: Timing = DEFAULT_TIMING
    snapshot_count: int = 100_000

    def __post_init__(self) -> None:
        if self.state not in ("new", "existing"):
            raise ClusterConfigError(
                f"unexpected --initial-cluster-state {self.state!r} (new or existing)"
            )


def parse_initial_cluster(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``name=url,name=url2,other=url3`` (a name may repeat, for several URLs)."""
    found: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, url = part.partition("=")
        if not sep or not name or not url:
            raise ClusterConfigError(f"invalid --initial-cluster entry {part!r} (name=URL)")
        found.setdefault(name, []).append(url)
    return tuple((name, tuple(urls)) for name, urls in found.items())


def raft_config(timing: Timing) -> Config:
    return Config(
        election_ticks=timing.election_ticks,
        heartbeat_ticks=1,
        max_inflight=MAX_INFLIGHT,
        max_entries_per_append=4096,
        max_size_per_msg=MAX_SIZE_PER_MSG,
    )


@dataclass
class Started:
    """A member ready to ``start``, and the storage it persists to."""

    member: RaftMember
    storage: RaftStorage


async def open_member(
    config: ServerConfig,
    settings: ClusterSettings,
    *,
    persisted: RaftStorage | None,
    new_storage: Callable[[dict[str, Any]], RaftStorage],
    make_transport: Callable[[RaftMember], Transport],
    fetch_members: Callable[[Sequence[str], str, bytes, float], Awaitable[bytes]],
    rng: random.Random | None = None,
    on_removed: Callable[[], None] | None = None,
) -> Started:
    """The member for ``config``: restarted from ``persisted`` when there is one, else
    new in a new cluster, or joining the running one (its members asked for with
    ``fetch_members(peer URLs, request kind, body, timeout)``)."""
    rng = rng or random.Random()
    server = EtcdServer(config)
    server.members = []  # the log (or a snapshot) says who they are
    server.raft_term = server.raft_index = server.applied_index = 0  # ... and where it is
    node_config = raft_config(settings.timing)
    seed: dict[int, tuple[str, ...]] = {}
    removed: set[int] = set()
    if persisted is not None:
        storage = persisted
        node, removed = _restart(server, storage, node_config, rng)
    elif settings.state == "new":
        node, seed, storage = await _new(server, config, settings, node_config, rng, new_storage)
    else:
        local, listed, storage = await _join(server, config, settings, fetch_members, new_storage)
        seed = {m.id: tuple(m.peer_urls) for m in listed}
        voters = [m.id for m in listed if not m.is_learner and m.id != local.id]
        learners = [m.id for m in listed if m.is_learner and m.id != local.id]
        # it takes the members it is told, but is none itself until the log says so
        node = RaftNode(local.id, voters, rng, node_config, learners=learners, join=True)
    member = RaftMember(
        server,
        node,
        storage,
        settings.timing,
        cluster_token=config.cluster_token,
        snapshot_count=settings.snapshot_count,
        make_transport=make_transport,
        removed=removed,
        seed_peers=seed,
        on_removed=on_removed,
    )
    return Started(member, storage)


async def _new(
    server: EtcdServer,
    config: ServerConfig,
    settings: ClusterSettings,
    node_config: Config,
    rng: random.Random,
    new_storage: Callable[[dict[str, Any]], RaftStorage],
) -> tuple[RaftNode, dict[int, tuple[str, ...]], RaftStorage]:
    initial = dict(settings.initial_cluster)
    mine = initial.get(config.name)
    if mine is None:
        raise ClusterConfigError(
            f"couldn't find local name {config.name!r} in the initial cluster configuration"
        )
    if sorted(mine) != sorted(config.peer_urls):
        raise ClusterConfigError(
            f"--initial-cluster has {config.name}={','.join(mine)} but missing from "
            f"--initial-advertise-peer-urls={','.join(config.peer_urls)}"
        )
    listed = sorted(
        (
            MemberInfo(member_id(urls, config.cluster_token), name, list(urls))
            for name, urls in initial.items()
        ),
        key=lambda m: m.id,
    )
    server.cluster_id = cluster_id(m.id for m in listed)
    entries = tuple(
        Entry(
            term=1,
            index=i + 1,
            kind=EntryKind.CONF_CHANGE,
            data=encode_conf_change(_added(m)),
        )
        for i, m in enumerate(listed)
    )
    hard_state = HardState(term=1, commit=len(entries))
    storage = new_storage(identity(server))
    await storage.save(None, hard_state, entries)
    node = RaftNode(
        server.member.id,
        [m.id for m in listed],
        rng,
        node_config,
        hard_state=hard_state,
        entries=entries,
    )
    return node, {m.id: tuple(m.peer_urls) for m in listed}, storage


def _added(member: MemberInfo) -> ConfChange:
    conf = ConfChange(ConfChangeType.ADD_NODE, member.id)
    return ConfChange(conf.type, conf.node_id, rules.Change(0, conf, member).context())


async def _join(
    server: EtcdServer,
    config: ServerConfig,
    settings: ClusterSettings,
    fetch_members: Callable[[Sequence[str], str, bytes, float], Awaitable[bytes]],
    new_storage: Callable[[dict[str, Any]], RaftStorage],
) -> tuple[MemberInfo, list[MemberInfo], RaftStorage]:
    """Ask the running cluster who its members are: this one must be among them (a
    MemberAdd came first), with its peer URLs. A member asked may not have applied the
    MemberAdd yet: ask again until one lists it, within the fetch timeout."""
    others = [url for name, urls in settings.initial_cluster if name != config.name for url in urls]
    if not others:
        raise ClusterConfigError(
            "--initial-cluster-state existing needs the running members in --initial-cluster"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FETCH_TIMEOUT
    while True:
        remaining = max(0.1, deadline - loop.time())
        cid, listed, removed = membership_of(await fetch_members(others, MEMBERS, b"", remaining))
        mine = sorted(config.peer_urls)
        # a member added for these URLs and not started yet (a member removed a moment
        # ago with the same URLs may still be listed by a peer that lags)
        local = next(
            (
                m
                for m in listed
                if sorted(m.peer_urls) == mine and not m.name and m.id not in removed
            ),
            None,
        )
        if local is not None:
            break
        if loop.time() >= deadline:
            raise ClusterConfigError(
                f"member {config.name} with peer URLs {','.join(config.peer_urls)} has not "
                "been added to the cluster (MemberAdd first)"
            )
        others = others[1:] + others[:1]  # another member may have applied it
        await asyncio.sleep(JOIN_RETRY)
    server.adopt_identity(local.id, cid, config.name, list(local.peer_urls))
    return local, listed, new_storage(identity(server))


def _restart(
    server: EtcdServer, storage: RaftStorage, node_config: Config, rng: random.Random
) -> tuple[RaftNode, set[int]]:
    persisted = storage.load()
    identity = persisted.metadata
    server.adopt_identity(
        int(identity["member_id"]),
        int(identity["cluster_id"]),
        server.member.name,
        list(identity["peer_urls"]),
    )
    removed: set[int] = set()
    applied = 0
    snapshot = persisted.snapshot
    if snapshot is not None:
        removed = load_snapshot(server, snapshot.data, snapshot.index, serving=False)
        applied = snapshot.index
    node = RaftNode(
        server.member.id,
        (),
        rng,
        node_config,
        hard_state=persisted.hard_state,
        entries=persisted.entries,
        applied=applied,
        snapshot=snapshot,
        join=True,
    )
    return node, removed


def membership_of(record: bytes) -> tuple[int, list[MemberInfo], set[int]]:
    """A running cluster's answer to MEMBERS: (cluster id, members, removed ids)."""
    data = json.loads(record)
    members = [rules.from_record(m) for m in data["members"]]
    return int(data["cluster_id"]), members, {int(i) for i in data["removed"]}
