"""EmbeddedCluster: a Raft-replicated etcd cluster in this process, with the faults a
test needs: kill and restart a member, pause it, partition the members, delay or drop
their messages.

Each member has its own thread and event loop, its own gRPC port, and its Raft state
in a storage that outlives it (in memory, or on ``data_dir``), so a killed member
restarts where its log left it. Members talk through an in-process network
(``cluster/network.py``) that carries the faults. Pausing a member blocks its event
loop, as SIGSTOP would stop its process: it answers nothing, its timers stand still,
and what was sent to it waits until it resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import shutil
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from etcd3py import _etcd_errors as E

from ..cluster.bootstrap import ClusterSettings
from ..cluster.member import RaftMember
from ..cluster.network import InProcessNetwork
from ..cluster.storage import RaftStorage
from ..cluster.timing import ELECTION_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, Timing
from ..errors import ServerError
from ..raft import Role
from .cluster_member import RunningMember, disk_storage, start_member
from .config import DEFAULTS
from .port_hold import PortHold

_T = TypeVar("_T")
START_TIMEOUT = 30.0
_POLL = 0.01  # seconds between two looks at the members' leaders
_RECONFIGURE_RETRY = 0.2  # seconds between two tries of a refused membership change


_peer_ports: set[int] = set()  # handed out in this process: never twice


def _free_port(host: str) -> int:
    """A port for a member's peer URL (in one process nothing binds it: it names the
    member, as its URL makes its id). Never one handed out before, so that a member
    added after another was removed never takes its URL, and with it its id."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in _peer_ports:
            _peer_ports.add(port)
            return port


class ClusterMember:
    """One member of an EmbeddedCluster, as a test sees it."""

    def __init__(self, cluster: EmbeddedCluster, name: str, peer_url: str, client_port: int):
        self._cluster = cluster
        self.name = name
        self.peer_url = peer_url
        self._port = client_port  # 0 until first bound; then kept across restarts
        self.id = 0  # known once started
        self.storage: RaftStorage | None = None
        self.paused = False
        self.removed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._resume = threading.Event()
        self._running: RunningMember | None = None
        self._held = PortHold()  # its client port, while killed

    def __repr__(self) -> str:
        state = "running" if self.running else "down"
        return f"<ClusterMember {self.name} {self.id:x} {self.endpoint} {state}>"

    @property
    def running(self) -> bool:
        return self._running is not None

    @property
    def endpoint(self) -> str:
        return f"{self._cluster.host}:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def raft(self) -> RaftMember:
        if self._running is None:
            raise RuntimeError(f"member {self.name} is not running")
        return self._running.raft

    # ---- on the member's own thread ----

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = START_TIMEOUT) -> _T:
        if self._loop is None:
            raise RuntimeError(f"member {self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _start(self, state: str, initial: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"etcd3py-member-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._boot(state, initial))
        except BaseException:
            self._end_thread()
            raise

    async def _boot(self, state: str, initial: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        cluster = self._cluster
        config = dataclasses.replace(
            cluster.config,
            name=self.name,
            listen_client_urls=(f"http://{cluster.host}:{self._port}",),
            peer_urls=(self.peer_url,),
            data_dir=None if cluster.data_dir is None else str(cluster.data_dir / self.name),
        )
        persisted, new_storage = disk_storage(config)
        self._held.release()
        if config.data_dir is None:
            persisted = self.storage  # in memory: what it had (None the first time)
        settings = ClusterSettings(initial, state, cluster.timing, config.snapshot_count)
        network = cluster.network
        loop = asyncio.get_running_loop()

        def attach(raft: RaftMember) -> None:
            network.attach(raft.node.id, loop, raft, (self.peer_url,))

        running = await start_member(
            config,
            settings,
            persisted=persisted,
            new_storage=new_storage,
            make_transport=lambda raft: network.transport(raft.node.id),
            fetch_members=network.ask_url,
            before_serving=attach,
            rng=random.Random(cluster.rng.random()),
            on_removed=self._removed,
        )
        running.raft.stale_reads = cluster.stale_reads
        self.storage = running.raft.storage
        self.id = running.raft.node.id
        self._port = running.grpc.ports[0]
        self._running = running

    def _removed(self) -> None:
        """The log removed this member: it stops serving (etcd's process exits)."""
        self.removed = True
        if self._loop is not None:
            self._loop.create_task(self._down())

    async def _down(self) -> None:
        running, self._running = self._running, None
        self._cluster.network.detach(self.id)
        if running is not None:
            await running.stop()

    def _stop(self, hold_port: bool = False) -> None:
        """Stop the member; ``hold_port`` keeps its client port from others until it
        (or the member replacing it) starts again."""
        if self.paused:
            self._resume_loop()
        if self._loop is not None:
            with contextlib.suppress(RuntimeError, TimeoutError):
                self._call(self._down())
        self._end_thread()
        self._held.release()
        if hold_port and self._port:
            self._held.hold(self._cluster.host, self._port)

    def _end_thread(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(RuntimeError, TimeoutError):
            asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT)
        loop.close()

    def _pause_loop(self) -> None:
        if self._loop is None:
            raise RuntimeError(f"member {self.name} is not running")
        self._resume.clear()
        self.paused = True
        self._loop.call_soon_threadsafe(self._resume.wait)

    def _resume_loop(self) -> None:
        self.paused = False
        self._resume.set()


class EmbeddedCluster:
    """A cluster of ``members`` etcd members replicated with Raft, in this process.

    >>> with EmbeddedCluster(members=3) as cluster:
    ...     client = Client(cluster.endpoints)
    ...     cluster.kill_member(cluster.members.index(cluster.wait_leader()))

    Members are named ``m0``, ``m1``...; faults take a member's index in ``members``.
    Every member setting of EmbeddedServer is accepted (``min_lease_ttl``,
    ``quota_backend_bytes``, ``auth_token``, ``snapshot_count``...). ``seed`` makes the
    election timeouts and message drops repeatable.
    """

    def __init__(
        self,
        members: int = 3,
        *,
        host: str = "127.0.0.1",
        data_dir: str | Path | None = None,
        heartbeat_interval: int = HEARTBEAT_INTERVAL_MS,
        election_timeout: int = ELECTION_TIMEOUT_MS,
        cluster_token: str = DEFAULTS.cluster_token,
        seed: int | None = None,
        **settings: Any,
    ) -> None:
        if members < 1:
            raise ValueError(f"a cluster has at least one member, not {members}")
        self.host = host
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.timing = Timing(heartbeat_interval, election_timeout)
        self.config = dataclasses.replace(DEFAULTS, cluster_token=cluster_token, **settings)
        self.rng = random.Random(seed)
        self.network = InProcessNetwork(seed)
        self.stale_reads = False  # see serve_stale_reads
        self.members: list[ClusterMember] = [
            ClusterMember(self, f"m{i}", f"http://{host}:{_free_port(host)}", 0)
            for i in range(members)
        ]
        self._started = False
        self._named = members  # members named so far (m0 .. m{n-1})

    # ---- what a test reads ----

    @property
    def endpoints(self) -> list[str]:
        """Every member's ``host:port``, for a client (``Client(cluster.endpoints)``)."""
        return [m.endpoint for m in self.members]

    @property
    def urls(self) -> list[str]:
        """Every member's ``http://host:port``, for tools that want URLs (etcdctl)."""
        return [m.url for m in self.members]

    @property
    def leader(self) -> ClusterMember | None:
        """The member that leads now, as the running members see it (None: no leader
        that the running members agree on)."""
        running = [m for m in self.members if m.running and not m.paused]
        leading = [m for m in running if m.raft.node.role is Role.LEADER]
        if len(leading) != 1:
            return None
        leader = leading[0]
        voters = leader.raft.node.voters
        agree = sum(1 for m in running if m.id in voters and m.raft.node.leader == leader.id)
        return leader if agree >= len(voters) // 2 + 1 else None

    def wait_leader(
        self, timeout: float = 10.0, *, other_than: ClusterMember | None = None
    ) -> ClusterMember:
        """The leader, once a quorum of the running members follows one (``other_than``:
        a leader other than that member, say the one just partitioned away)."""
        deadline = time.monotonic() + timeout
        while True:
            leader = self.leader
            if leader is not None and leader is not other_than:
                return leader
            if time.monotonic() > deadline:
                raise TimeoutError(f"no leader within {timeout}s")
            time.sleep(_POLL)

    # ---- starting and stopping ----

    def _initial(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple((m.name, (m.peer_url,)) for m in self.members if not m.removed)

    def start(self) -> EmbeddedCluster:
        """Start every member (a new cluster, or again on ``data_dir``); return self
        once they serve (``with`` does this). A leader is elected soon after."""
        if self._started:
            raise RuntimeError("the cluster is already running")
        initial = self._initial()
        started: list[ClusterMember] = []
        try:
            for member in self.members:
                member._start("new", initial)
                started.append(member)
        except BaseException:
            for member in started:
                member._stop()
            raise
        self._started = True
        self._wait_published(START_TIMEOUT)
        return self

    def _wait_published(self, timeout: float) -> None:
        """Until every member published its name and client URLs (a leader was elected
        and committed them) and applied the cluster version, as an etcd member serves
        clients only once it has."""
        deadline = time.monotonic() + timeout

        def settled(m: ClusterMember) -> bool:
            return m.raft.published and m.raft.server.cluster_version is not None

        while not all(settled(m) for m in self.members if m.running):
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the members did not publish themselves within {timeout}s")
            time.sleep(_POLL)

    def stop(self) -> None:
        """Stop every member. In memory the data goes; a ``data_dir`` keeps it."""
        for member in self.members:
            member._stop()
        self._started = False

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- faults ----

    def kill_member(self, i: int) -> None:
        """Stop member ``i`` at once, as kill -9: connections cut, nothing flushed that
        was not persisted; ``restart_member`` brings it back on its data."""
        member = self.members[i]
        if not member.running:
            raise RuntimeError(f"member {member.name} is not running")
        member._stop(hold_port=True)

    def restart_member(self, i: int) -> None:
        """Start member ``i`` again on what it persisted, on the same ports."""
        member = self.members[i]
        if member.running or member.removed:
            raise RuntimeError(f"member {member.name} is running or was removed")
        member._start("new", self._initial())

    stop_member = kill_member  # in one process a clean stop loses nothing a kill keeps
    start_member = restart_member

    def pause_member(self, i: int) -> None:
        """Freeze member ``i`` (its event loop blocks), as SIGSTOP freezes a process."""
        member = self.members[i]
        if member.paused:
            raise RuntimeError(f"member {member.name} is paused already")
        member._pause_loop()

    def resume_member(self, i: int) -> None:
        """Let a paused member run again: what was sent to it meanwhile arrives now."""
        member = self.members[i]
        if not member.paused:
            raise RuntimeError(f"member {member.name} is not paused")
        member._resume_loop()

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut the links between the groups of member indexes: ``partition([0], [1, 2])``.
        A member named in no group is cut off from all."""
        self.network.partition([{self.members[i].id for i in group} for group in groups])

    def heal(self) -> None:
        """Undo partitions, delays and drops."""
        self.network.heal()

    def delay_messages(
        self, seconds: float, between: Sequence[tuple[int, int]] | None = None
    ) -> None:
        """Hold peer messages ``seconds`` on the links (sender index, receiver index)
        given, or on all."""
        self.network.delay(seconds, self._links(between))

    def drop_messages(self, rate: float, between: Sequence[tuple[int, int]] | None = None) -> None:
        """Lose a ``rate`` share of the peer messages on the links given, or on all."""
        self.network.drop(rate, self._links(between))

    def serve_stale_reads(self, on: bool = True) -> None:
        """A deliberate bug, for testing history checkers (never for testing an
        application): every member serves linearizable reads from what it has applied,
        skipping ReadIndex, so a member cut off from the leader answers with old data."""
        self.stale_reads = on
        for member in self.members:
            if member.running:
                member.raft.stale_reads = on

    def _links(self, between: Sequence[tuple[int, int]] | None) -> list[tuple[int, int]] | None:
        if between is None:
            return None
        return [(self.members[a].id, self.members[b].id) for a, b in between]

    # ---- membership ----

    def _any_running(self) -> ClusterMember:
        leader = self.leader
        if leader is not None:
            return leader
        for member in self.members:
            if member.running and not member.paused:
                return member
        raise RuntimeError("no member is running")

    def _reconfigure(
        self, change: Callable[[RaftMember], Coroutine[Any, Any, Any]], timeout: float
    ) -> None:
        """Make a membership change through a running member, asked again while etcd's
        strict check refuses it (a member connected to every voter for less than 5 s,
        as right after a start, answers "unhealthy cluster")."""
        deadline = time.monotonic() + timeout
        while True:
            asker = self._any_running()
            try:
                asker._call(change(asker.raft), timeout)
                return
            except ServerError as err:
                if err.spec is not E.UNHEALTHY or time.monotonic() > deadline:
                    raise
            time.sleep(_RECONFIGURE_RETRY)

    def add_member(self, learner: bool = False, timeout: float = 20.0) -> ClusterMember:
        """Add a member (MemberAdd through the cluster, as a learner if asked), and
        start it joining with ``--initial-cluster-state existing``; return it. Within
        5 s of the cluster's start etcd's strict check refuses a MemberAdd: this waits
        it out, up to ``timeout``."""
        member = ClusterMember(self, f"m{self._named}", "", 0)
        self._named += 1  # never a removed member's name: its data directory stays its own
        member.peer_url = f"http://{self.host}:{_free_port(self.host)}"
        self._reconfigure(lambda raft: raft.member_add([member.peer_url], learner), timeout)
        self.members.append(member)
        initial = tuple((m.name, (m.peer_url,)) for m in self.members if not m.removed)
        member._start("existing", initial)
        return member

    def remove_member(self, i: int, timeout: float = 20.0) -> None:
        """Remove member ``i`` (MemberRemove through the cluster): it stops and leaves
        ``members``."""
        member = self.members[i]
        self._reconfigure(lambda raft: raft.member_remove(member.id), timeout)
        member._stop()
        self.members.pop(i)

    def replace_member(self, i: int, timeout: float = 20.0) -> ClusterMember:
        """Replace member ``i`` by a new one, as an operator replaces a broken machine:
        MemberRemove it, wipe its data, MemberAdd a new member under the same name and
        client port, at the same index, and start it joining (``existing``). Its peer
        URL is new, so its id is new; clients keep their endpoint."""
        old = self.members[i]
        self._reconfigure(lambda raft: raft.member_remove(old.id), timeout)
        old._stop(hold_port=True)
        old.removed = True
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir / old.name, ignore_errors=True)
        peer_url = f"http://{self.host}:{_free_port(self.host)}"
        member = ClusterMember(self, old.name, peer_url, old._port)
        member._held, old._held = old._held, PortHold()
        self._reconfigure(lambda raft: raft.member_add([member.peer_url], False), timeout)
        self.members[i] = member
        member._start("existing", self._initial())
        return member
