"""Multi-member clusters for the cluster tests, one interface over two backends.

``EtcdClusterBackend`` drives real etcd 3.5.1 processes (``EtcdCluster``);
``RefProcessCluster`` drives ``python -m etcd3py.server_ref`` processes started with the
same flags by the same code; ``RefCluster`` drives server_ref's in-process
``EmbeddedCluster``. The tests only use ``Cluster``'s methods, so they run unchanged
on all three.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from tests.support.servers import (
    START_TIMEOUT,
    EtcdCluster,
    EtcdProcess,
    RefProcess,
    free_port,
)

# etcd refuses a voter change until the member asked has been connected to every voter
# for 5 s (its HealthInterval): membership changes retry that refusal up to this long.
RECONFIG_TIMEOUT = 30.0
UNHEALTHY = "etcdserver: unhealthy cluster"

T = TypeVar("T")


def retry_unhealthy(call: Callable[[], T], timeout: float = RECONFIG_TIMEOUT) -> T:
    """Run ``call`` until etcd's strict reconfiguration check lets it through."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as err:
            if err.details() != UNHEALTHY or time.monotonic() > deadline:  # type: ignore[attr-defined]
                raise
        time.sleep(0.1)  # polling the check under a deadline


def status(endpoint: str, timeout: float = 2.0) -> rpc_pb2.StatusResponse:
    with grpc.insecure_channel(endpoint) as channel:
        return rpc_pb2_grpc.MaintenanceStub(channel).Status(
            rpc_pb2.StatusRequest(), timeout=timeout
        )


@dataclass
class NewMember:
    """A member a test added: its id, its client endpoint, its index in the cluster."""

    id: int
    endpoint: str
    index: int


class Cluster(Protocol):
    """What a cluster test may do to its cluster."""

    kind: str

    @property
    def endpoints(self) -> list[str]: ...
    def endpoint(self, i: int) -> str: ...
    def running(self, i: int) -> bool: ...
    def kill(self, i: int) -> None: ...
    def restart(self, i: int) -> None: ...
    def wait_leader(self, timeout: float = START_TIMEOUT) -> int: ...
    def index_of(self, member_id: int) -> int: ...
    def add_member(self, learner: bool = False) -> NewMember: ...
    def remove_member(self, i: int) -> None: ...
    def replace_member(self, i: int) -> int: ...
    def ensure_running(self) -> None: ...
    def stop(self) -> None: ...


class EtcdClusterBackend:
    """Real etcd members; ``add_member`` proposes MemberAdd then starts the process."""

    kind = "etcd"
    member: type[EtcdProcess] = EtcdProcess

    def __init__(
        self,
        root: Path,
        size: int = 3,
        snapshot_count: int | None = None,
        peer_proxy: Callable[[int], str] | None = None,
    ) -> None:
        """``peer_proxy``: see ``EtcdCluster`` (members reached through proxies)."""
        self._root = root
        self._extra = [] if snapshot_count is None else ["--snapshot-count", str(snapshot_count)]
        self._group = EtcdCluster(
            root, size, extra_args=self._extra, member=self.member, peer_proxy=peer_proxy
        )
        self._token = "etcd3py-test"

    def start(self) -> EtcdClusterBackend:
        self._group.start()
        return self

    @property
    def endpoints(self) -> list[str]:
        return self._group.endpoints

    def endpoint(self, i: int) -> str:
        return self._group.members[i].endpoint

    def running(self, i: int) -> bool:
        return self._group.members[i].alive()

    def kill(self, i: int) -> None:
        self._group.members[i].kill()

    def restart(self, i: int) -> None:
        self._group.members[i].start()

    def wait_leader(self, timeout: float = START_TIMEOUT) -> int:
        """The leader the running members agree on, itself running: just after a kill the
        survivors still name the dead leader until an election timeout passes."""
        deadline = time.monotonic() + timeout
        while True:
            leader = self._group.wait_leader(max(0.1, deadline - time.monotonic()))
            try:
                self.index_of(leader)
                return leader
            except LookupError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no running leader within {timeout}s") from None
            time.sleep(0.05)  # polling the members' status under a deadline

    def index_of(self, member_id: int) -> int:
        for i, member in enumerate(self._group.members):
            if member.alive() and status(member.endpoint).header.member_id == member_id:
                return i
        raise LookupError(f"no running member {member_id:x}")

    def add_member(self, learner: bool = False) -> NewMember:
        peer_port = free_port()
        peer_url = f"http://127.0.0.1:{peer_port}"
        leader = self.endpoint(self.index_of(self.wait_leader()))
        request = rpc_pb2.MemberAddRequest(peerURLs=[peer_url], isLearner=learner)
        with grpc.insecure_channel(leader) as channel:
            stub = rpc_pb2_grpc.ClusterStub(channel)
            added = retry_unhealthy(lambda: stub.MemberAdd(request, timeout=10))
        name = f"m{len(self._group.members)}"
        initial = ",".join(f"{m.name or name}={m.peerURLs[0]}" for m in added.members if m.peerURLs)
        member = self.member(
            self._root / name,
            name=name,
            peer_port=peer_port,
            initial_cluster=initial,
            cluster_state="existing",
            extra_args=["--initial-cluster-token", self._token, *self._extra],
        )
        self._group.members.append(member.start())
        return NewMember(added.member.ID, member.endpoint, len(self._group.members) - 1)

    def process(self, i: int) -> EtcdProcess:
        return self._group.members[i]

    def remove_member(self, i: int) -> None:
        """MemberRemove member ``i`` through another member; it exits by itself (within
        ~1 s on etcd) and leaves the list, its data with it."""
        member = self._group.members[i]
        member_id = status(member.endpoint).header.member_id
        other = next(m for j, m in enumerate(self._group.members) if j != i and m.alive())
        request = rpc_pb2.MemberRemoveRequest(ID=member_id)
        with grpc.insecure_channel(other.endpoint) as channel:
            stub = rpc_pb2_grpc.ClusterStub(channel)
            retry_unhealthy(lambda: stub.MemberRemove(request, timeout=10))
        self.wait_removed(i)

    def wait_removed(self, i: int, timeout: float = 10.0) -> int:
        """Wait for removed member ``i``'s process to exit by itself and forget it (its
        data too); its exit status (etcd exits well within a second). One that stays is killed,
        then reported."""
        member = self._group.members.pop(i)
        assert member.proc is not None, f"member {member.name} was not running"
        try:
            return member.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"removed member {member.name} did not exit") from None
        finally:
            member.remove()

    def replace_member(self, i: int) -> int:
        """Remove member ``i``, wipe its data, add it back as a new member with the same
        name, ports and advertised peer URL (so client endpoints and proxies stay valid)
        and start it joining the cluster (``existing``); return its new id."""
        old = self._group.members[i]
        member_id = status(old.endpoint).header.member_id
        other = next(m for j, m in enumerate(self._group.members) if j != i and m.alive())
        with grpc.insecure_channel(other.endpoint) as channel:
            stub = rpc_pb2_grpc.ClusterStub(channel)
            remove = rpc_pb2.MemberRemoveRequest(ID=member_id)
            retry_unhealthy(lambda: stub.MemberRemove(remove, timeout=10))
            assert old.proc is not None
            try:
                old.proc.wait(10)  # a removed etcd member exits by itself
            except subprocess.TimeoutExpired:
                old.kill()
            old.remove()
            self.wait_leader()  # the survivors elect first when the leader went
            add = rpc_pb2.MemberAddRequest(peerURLs=[old.advertise_peer_url])
            added = retry_unhealthy(lambda: stub.MemberAdd(add, timeout=10))
        initial = ",".join(
            f"{m.name or old.name}={m.peerURLs[0]}" for m in added.members if m.peerURLs
        )
        member = self.member(
            old.data_dir,
            name=old.name,
            client_port=old.client_port,
            peer_port=old.peer_port,
            advertise_peer_url=old.advertise_peer_url,
            initial_cluster=initial,
            cluster_state="existing",
            extra_args=["--initial-cluster-token", self._token, *self._extra],
        )
        self._group.members[i] = member.start()
        return int(added.member.ID)

    def ensure_running(self) -> None:
        self._group.ensure_running()

    def stop(self) -> None:
        self._group.stop()


class RefProcessCluster(EtcdClusterBackend):
    """server_ref members as processes, started, killed and changed exactly as etcd's."""

    kind = "ref-process"
    member = RefProcess


class RefCluster:
    """server_ref's ``EmbeddedCluster`` behind the same interface."""

    kind = "ref"

    def __init__(self, root: Path, size: int = 3, snapshot_count: int | None = None) -> None:
        from etcd3py.server_ref import EmbeddedCluster  # type: ignore[attr-defined]

        settings = {} if snapshot_count is None else {"snapshot_count": snapshot_count}
        self._cluster: Any = EmbeddedCluster(members=size, data_dir=root, **settings)

    def start(self) -> RefCluster:
        self._cluster.start()
        self._cluster.wait_leader(START_TIMEOUT)
        return self

    @property
    def endpoints(self) -> list[str]:
        return list(self._cluster.endpoints)

    def endpoint(self, i: int) -> str:
        return str(self._cluster.members[i].endpoint)

    def running(self, i: int) -> bool:
        return bool(self._cluster.members[i].running)

    def kill(self, i: int) -> None:
        self._cluster.kill_member(i)

    def restart(self, i: int) -> None:
        self._cluster.restart_member(i)

    def wait_leader(self, timeout: float = START_TIMEOUT) -> int:
        return int(self._cluster.wait_leader(timeout).id)

    def index_of(self, member_id: int) -> int:
        for i, member in enumerate(self._cluster.members):
            if member.id == member_id:
                return i
        raise LookupError(f"no member {member_id:x}")

    def add_member(self, learner: bool = False) -> NewMember:
        member = self._cluster.add_member(learner=learner)
        return NewMember(int(member.id), str(member.endpoint), self.index_of(member.id))

    def remove_member(self, i: int) -> None:
        self._cluster.remove_member(i)

    def replace_member(self, i: int) -> int:
        return int(self._cluster.replace_member(i).id)

    def partition(self, *groups: list[int]) -> None:
        """Cut the peer links between ``groups`` (a fault real etcd has no counterpart
        for in these tests: see tests/cluster/test_embedded_faults.py)."""
        self._cluster.partition(*groups)

    def heal(self) -> None:
        self._cluster.heal()

    def ensure_running(self) -> None:
        for i, member in enumerate(self._cluster.members):
            if not member.running:
                self._cluster.restart_member(i)
        self._cluster.wait_leader(START_TIMEOUT)

    def stop(self) -> None:
        self._cluster.stop()


KINDS: dict[str, type[EtcdClusterBackend] | type[RefCluster]] = {
    "etcd": EtcdClusterBackend,
    "ref": RefCluster,
    "ref-process": RefProcessCluster,
}


def cluster_backends(server_backends: list[str], processes: bool = False) -> list[str]:
    """The cluster parametrisation as the suite's BACKENDS select it: "etcd" and "ref"
    (server_ref in one process); with ``processes``, "ref-process" too (server_ref
    processes, slower to start: for the tests about processes and what drives them)."""
    params: list[str] = []
    if "etcd" in server_backends:
        params.append("etcd")
    if "server_ref" in server_backends:
        params += ["ref", "ref-process"] if processes else ["ref"]
    return params


def start_cluster(kind: str, root: Path, snapshot_count: int | None = None) -> Iterator[Cluster]:
    """Start a 3-member cluster of ``kind``; stop it when the generator closes.
    ``snapshot_count``: applied entries between snapshots (etcd's --snapshot-count)."""
    group = KINDS[kind](root, snapshot_count=snapshot_count)
    try:
        group.start()
        yield group
    finally:
        group.stop()
