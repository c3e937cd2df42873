"""Faults injected while the traffic runs, on a seeded schedule.

Two targets: server_ref's in-process EmbeddedCluster (its in-process network carries
partitions, delays and drops; it can also pause members) and a cluster of three real
etcd processes (kill -9 and restart, SIGSTOP and SIGCONT; partitions and delays through
a TCP proxy on each member's peer URL, tests/support/peer_proxy.py). On both, clients
reach each member through a TCP proxy that can reset their connections, and a member
can be replaced (removed, wiped, added back under its name and client port). Each
failpoint injects its fault and undoes it before the next one fires (a killed member
restarts, a partition heals), so the cluster never loses more than the one member a
fault takes.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import grpc

from etcd3py import Client, EtcdError
from etcd3py.server_ref import EmbeddedCluster
from tests.support.peer_proxy import PeerLinks, ProxyHub, TcpProxy

from .traffic import PREFIX, Clock

HEAL_TIMEOUT = 30.0  # seconds the cluster may take to have every member and a leader again
ADMIN_TIMEOUT = 5.0


class Target(Protocol):
    """A cluster the harness can hurt."""

    name: str

    @property
    def endpoints(self) -> list[str]: ...
    def kill(self, i: int) -> None: ...
    def restart(self, i: int) -> None: ...
    def pause(self, i: int) -> None: ...
    def resume(self, i: int) -> None: ...
    def partition(self, i: int) -> None: ...
    def cut_link(self, a: int, b: int) -> None: ...
    def delay(self, seconds: float) -> None: ...
    def heal(self) -> None: ...
    def cut_clients(self, i: int) -> int: ...
    def client_connections(self) -> list[int]: ...
    def replace(self, i: int) -> None: ...
    def ensure_running(self) -> None: ...
    def describe(self) -> str: ...
    def stop(self) -> None: ...


class _ClientProxies:
    """A TCP proxy in front of each member's client port: the endpoints the traffic
    uses, so that a failpoint can reset the clients' live connections to a member."""

    def __init__(self, hub: ProxyHub, endpoints: list[str]) -> None:
        self.proxies: list[TcpProxy] = [hub.proxy(_address(e)) for e in endpoints]

    @property
    def endpoints(self) -> list[str]:
        return [p.endpoint for p in self.proxies]

    def cut(self, i: int) -> int:
        return self.proxies[i].cut()

    def live(self) -> list[int]:
        return [p.live() for p in self.proxies]


def _address(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host, int(port)


class RefTarget:
    """server_ref's EmbeddedCluster of three members, on disk so a kill keeps what a
    kill -9 keeps."""

    name = "server_ref"

    def __init__(self, seed: int) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="etcd3py-robustness-")
        self.cluster = EmbeddedCluster(members=3, data_dir=self._dir.name, seed=seed)
        self.cluster.start()
        self.cluster.wait_leader(HEAL_TIMEOUT)
        self._hub = ProxyHub()
        self._clients = _ClientProxies(self._hub, list(self.cluster.endpoints))

    @property
    def endpoints(self) -> list[str]:
        return self._clients.endpoints

    def kill(self, i: int) -> None:
        self.cluster.kill_member(i)

    def restart(self, i: int) -> None:
        self.cluster.restart_member(i)

    def pause(self, i: int) -> None:
        self.cluster.pause_member(i)

    def resume(self, i: int) -> None:
        self.cluster.resume_member(i)

    def partition(self, i: int) -> None:
        others = [j for j in range(len(self.cluster.members)) if j != i]
        self.cluster.partition([i], others)

    def cut_link(self, a: int, b: int) -> None:
        self.cluster.drop_messages(1.0, [(a, b), (b, a)])

    def delay(self, seconds: float) -> None:
        self.cluster.delay_messages(seconds)

    def heal(self) -> None:
        self.cluster.heal()

    def cut_clients(self, i: int) -> int:
        return self._clients.cut(i)

    def client_connections(self) -> list[int]:
        return self._clients.live()

    def replace(self, i: int) -> None:
        member = self.cluster.replace_member(i)
        self._clients.proxies[i].retarget(_address(member.endpoint))

    def ensure_running(self) -> None:
        for i, member in enumerate(self.cluster.members):
            if member.paused:
                self.cluster.resume_member(i)
            if not member.running:
                self.cluster.restart_member(i)
        self.cluster.heal()
        self.cluster.wait_leader(HEAL_TIMEOUT)

    def describe(self) -> str:
        lines = []
        for i, member in enumerate(self.cluster.members):
            state = "running" if member.running else "down"
            state += ", paused" if member.paused else ""
            direct = _direct_status(member.endpoint) if member.running else "-"
            lines.append(f"member {i}: {state}; {member.endpoint}: {direct}")
            lines.append(f"  {self._clients.proxies[i].report()}")
        return "\n".join(lines)

    def stop(self) -> None:
        self.cluster.stop()
        self._hub.close()
        self._dir.cleanup()


class EtcdTarget:
    """Three real etcd 3.5.1 processes, peers and clients each through a proxy."""

    name = "etcd"

    def __init__(self) -> None:
        from tests.support.clusters import EtcdClusterBackend, status

        self._status = status
        self._dir = tempfile.TemporaryDirectory(prefix="etcd3py-robustness-")
        self._hub = ProxyHub()
        self.links = PeerLinks(self._hub)
        self.cluster = EtcdClusterBackend(
            Path(self._dir.name), peer_proxy=lambda port: self.links.add(("127.0.0.1", port)).url
        ).start()
        self._learn_ids()
        self._clients = _ClientProxies(self._hub, self.cluster.endpoints)

    def _learn_ids(self) -> None:
        ids = {}
        for i, endpoint in enumerate(self.cluster.endpoints):
            ids[i] = self._status(endpoint, ADMIN_TIMEOUT).header.member_id
        self.links.learn(ids)

    @property
    def endpoints(self) -> list[str]:
        return self._clients.endpoints

    def kill(self, i: int) -> None:
        self.cluster.kill(i)

    def restart(self, i: int) -> None:
        self.cluster.restart(i)

    def pause(self, i: int) -> None:
        self.cluster.process(i).pause()

    def resume(self, i: int) -> None:
        self.cluster.process(i).resume()

    def partition(self, i: int) -> None:
        self.links.isolate(i)

    def cut_link(self, a: int, b: int) -> None:
        self.links.cut(a, b)

    def delay(self, seconds: float) -> None:
        self.links.delay(seconds)

    def heal(self) -> None:
        self.links.heal()

    def cut_clients(self, i: int) -> int:
        return self._clients.cut(i)

    def client_connections(self) -> list[int]:
        return self._clients.live()

    def replace(self, i: int) -> None:
        self.cluster.replace_member(i)
        self._learn_ids()

    def ensure_running(self) -> None:
        self.links.heal()
        for i in range(len(self.cluster.endpoints)):
            if self.cluster.process(i).paused:
                self.cluster.process(i).resume()
        self.cluster.ensure_running()

    def describe(self) -> str:
        """Each member's process, its own answer (not through the proxy) and its
        proxy's counts; the log's tail of a member that exited or did not answer."""
        lines = []
        for i, endpoint in enumerate(self.cluster.endpoints):
            process = self.cluster.process(i)
            code = process.proc.poll() if process.proc is not None else None
            state = "running" if code is None else f"exited with {code}"
            state += ", paused" if process.paused else ""
            direct = _direct_status(endpoint)
            lines.append(f"member {i}: {state}; {endpoint}: {direct}")
            lines.append(f"  {self._clients.proxies[i].report()}")
            if code is not None or direct.startswith("no answer"):
                lines += [f"  | {line}" for line in process.log_tail(15).splitlines()]
        return "\n".join(lines)

    def stop(self) -> None:
        self.cluster.stop()
        self._hub.close()
        self._dir.cleanup()


def _direct_status(endpoint: str) -> str:
    """A member's Status asked straight (no proxy, no client library), in a line."""
    from tests.support.clusters import status

    try:
        answer = status(endpoint, ADMIN_TIMEOUT)
    except grpc.RpcError as err:
        return f"no answer ({err.code().name}: {err.details()})"
    except Exception as err:
        return f"no answer ({type(err).__name__}: {err})"[:300]
    return f"member {answer.header.member_id:x}, leader {answer.leader:x}"


def start_target(name: str, seed: int) -> Target:
    if name == "server_ref":
        return RefTarget(seed)
    if name == "etcd":
        return EtcdTarget()
    raise ValueError(f"unknown target {name!r} (etcd or server_ref)")


@dataclass(frozen=True)
class Fired:
    """One failpoint as it happened: ``error`` says why it could not be injected."""

    name: str
    start: float
    end: float
    detail: str
    error: str | None = None


class Context:
    """What a failpoint acts through: the target, an admin client, the seeded choices."""

    def __init__(
        self, target: Target, client: Client, rng: random.Random, compactable: Callable[[], int]
    ):
        self.target = target
        self.client = client
        self.rng = rng
        self.compactable = compactable  # a revision no watcher still needs below
        self.compacted = 0

    def roles(self) -> tuple[int, list[int], list[int]]:
        """(leader index, follower indexes, member ids by index), as the members say."""
        deadline = time.monotonic() + HEAL_TIMEOUT
        while True:
            ids, leaders = [], set()
            try:
                for endpoint in self.target.endpoints:
                    status = self.client.status(endpoint, timeout=ADMIN_TIMEOUT)
                    ids.append(status.member_id)
                    leaders.add(status.leader)
            except EtcdError as err:  # a member still catching up on a loaded machine
                if time.monotonic() > deadline:
                    raise
                why = f"{type(err).__name__}: {err}"
            else:
                if len(leaders) == 1 and (leader := leaders.pop()) in ids:
                    index = ids.index(leader)
                    return index, [i for i in range(len(ids)) if i != index], ids
                why = f"members disagree on the leader: {leaders}"
            if time.monotonic() > deadline:
                raise TimeoutError(why)
            time.sleep(0.1)  # polling the members' view under a deadline

    def outage(self) -> float:
        return self.rng.uniform(0.3, 1.5)


def _member(ctx: Context, leader: bool) -> int:
    index, followers, _ = ctx.roles()
    return index if leader else ctx.rng.choice(followers)


def kill_restart(leader: bool) -> Callable[[Context], str]:
    def fire(ctx: Context) -> str:
        i = _member(ctx, leader)
        ctx.target.kill(i)
        time.sleep(ctx.outage())  # the outage itself: the workload, not a wait for state
        ctx.target.restart(i)
        return f"member {i} down"

    return fire


def move_leader(ctx: Context) -> str:
    index, followers, ids = ctx.roles()
    to = ctx.rng.choice(followers)
    ctx.client.move_leader(ids[to], timeout=ADMIN_TIMEOUT)
    return f"{index} -> {to}"


def compact(ctx: Context) -> str:
    current = ctx.client.get(PREFIX, prefix=True, count_only=True).header.revision
    revision = min(ctx.compactable(), current)  # compacting past the head is refused
    if revision <= ctx.compacted:
        raise LookupError(f"nothing new to compact (watchers at {revision})")
    ctx.client.compact(revision, timeout=ADMIN_TIMEOUT)
    ctx.compacted = revision
    return f"to {revision}"


def defragment(ctx: Context) -> str:
    i = ctx.rng.randrange(len(ctx.target.endpoints))
    ctx.client.defragment(ctx.target.endpoints[i], timeout=ADMIN_TIMEOUT * 2)
    return f"member {i}"


def _ref(ctx: Context) -> EmbeddedCluster:
    assert isinstance(ctx.target, RefTarget)
    return ctx.target.cluster


def pause_resume(leader: bool) -> Callable[[Context], str]:
    def fire(ctx: Context) -> str:
        i = _member(ctx, leader)
        ctx.target.pause(i)
        time.sleep(ctx.outage())
        ctx.target.resume(i)
        return f"member {i} paused"

    return fire


def partition_heal(leader: bool) -> Callable[[Context], str]:
    def fire(ctx: Context) -> str:
        i = _member(ctx, leader)
        ctx.target.partition(i)
        time.sleep(ctx.outage())
        ctx.target.heal()
        return f"member {i} cut off"

    return fire


def cut_leader_link(ctx: Context) -> str:
    """Cut the leader from one follower only: the other follower still hears both."""
    leader, followers, _ = ctx.roles()
    follower = ctx.rng.choice(followers)
    ctx.target.cut_link(leader, follower)
    time.sleep(ctx.outage())
    ctx.target.heal()
    return f"link {leader} (leader) - {follower} cut"


def delay(ctx: Context) -> str:
    seconds = ctx.rng.uniform(0.02, 0.2)
    ctx.target.delay(seconds)
    time.sleep(ctx.outage())
    ctx.target.heal()
    return f"{seconds * 1000:.0f} ms on every link"


def drop_client_connections(ctx: Context) -> str:
    """Reset the clients' live connections to one member (one they use: a gRPC channel
    talks to one endpoint at a time)."""
    used = [i for i, n in enumerate(ctx.target.client_connections()) if n]
    if not used:
        raise LookupError("no client connection to cut")
    i = ctx.rng.choice(used)
    return f"member {i}: {ctx.target.cut_clients(i)} connections reset"


def replace(leader: bool) -> Callable[[Context], str]:
    def fire(ctx: Context) -> str:
        i = _member(ctx, leader)
        ctx.target.replace(i)
        return f"member {i} replaced"

    return fire


def drop(ctx: Context) -> str:
    rate = ctx.rng.uniform(0.1, 0.5)
    _ref(ctx).drop_messages(rate)
    time.sleep(ctx.outage())
    _ref(ctx).heal()
    return f"{rate:.0%} of peer messages"


Failpoint = Callable[[Context], str]
COMMON: dict[str, Failpoint] = {
    "kill_leader": kill_restart(leader=True),
    "kill_follower": kill_restart(leader=False),
    "move_leader": move_leader,
    "compact": compact,
    "defragment": defragment,
    "partition_leader": partition_heal(leader=True),
    "partition_follower": partition_heal(leader=False),
    "cut_leader_link": cut_leader_link,
    "delay_messages": delay,
    "drop_client_connections": drop_client_connections,
    "replace_leader": replace(leader=True),
    "replace_follower": replace(leader=False),
    "pause_leader": pause_resume(leader=True),
    "pause_follower": pause_resume(leader=False),
}
# TCP loses no bytes (a lost packet is sent again: a delay), so a proxy between etcd
# members can cut or delay their messages but not drop some: server_ref's only.
REF_ONLY: dict[str, Failpoint] = {
    "drop_messages": drop,
}


def failpoints_for(target: Target) -> dict[str, Failpoint]:
    return {**COMMON, **REF_ONLY} if isinstance(target, RefTarget) else dict(COMMON)


class Injector(threading.Thread):
    """Fires failpoints one after another, a seeded pause between two, until stopped;
    after each it waits for every member to run under a leader again."""

    def __init__(
        self,
        target: Target,
        seed: int,
        clock: Clock,
        compactable: Callable[[], int],
        gap: tuple[float, float] = (0.5, 1.5),
        only: Sequence[str] | None = None,
    ) -> None:
        super().__init__(name="robustness-failpoints", daemon=True)
        self._target = target
        self._rng = random.Random(f"{seed}/failpoints")
        self._clock = clock
        self._compactable = compactable
        self._gap = gap
        self._only = only
        self._halt = threading.Event()
        self.fired: list[Fired] = []
        self.problem: str | None = None

    def run(self) -> None:
        points = failpoints_for(self._target)
        names = sorted(points)
        if self._only is not None:
            unknown = set(self._only) - set(points)
            if unknown:
                self.problem = f"no failpoint {sorted(unknown)} on {self._target.name}"
                return
            names = sorted(self._only)
        with Client(self._target.endpoints, timeout=ADMIN_TIMEOUT) as client:
            ctx = Context(self._target, client, self._rng, self._compactable)
            while not self._halt.wait(self._rng.uniform(*self._gap)):
                name = self._rng.choice(names)
                start = self._clock.now()
                try:
                    detail, error = points[name](ctx), None
                except Exception as err:  # a fault refused (say MoveLeader mid-election)
                    detail, error = "", f"{type(err).__name__}: {err}"
                self.fired.append(Fired(name, start, self._clock.now(), detail, error))
                try:
                    self._target.ensure_running()
                    ctx.roles()
                except Exception as err:
                    self.problem = (
                        f"the cluster did not recover after {name}: {err!r}"[:2000]
                        + f"\n{self._describe()}"
                    )
                    return

    def _describe(self) -> str:
        try:
            return self._target.describe()
        except Exception as err:  # the report of a problem must not hide the problem
            return f"(the members could not be described: {err!r})"

    def stop(self, timeout: float = 60.0) -> None:
        """Stop firing and bring every member back; a member that cannot come back is
        a problem of the run (its history is still checked), not a crash of it."""
        self._halt.set()
        self.join(timeout)
        try:
            self._target.ensure_running()
        except Exception as err:
            if self.problem is None:
                self.problem = (
                    f"a member did not come back at the end: {err!r}"[:2000]
                    + f"\n{self._describe()}"
                )

    @property
    def succeeded(self) -> list[Fired]:
        return [f for f in self.fired if f.error is None]
