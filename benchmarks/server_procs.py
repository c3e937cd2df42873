"""The servers of ``server_compare.py``: command lines, processes, and their CPU time.

A server is a command-line template per (backend, mode). Before a mode runs, the
server's ``--help`` must list every flag the template uses, so a server_ref that has
no ``--data-dir`` yet is reported as not supporting that mode instead of failing.
CPU time is read from /proc (user + system, every thread), Linux only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc.aio

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref.embed.certs import TlsFiles
from tests.support.servers import etcd_bin_dir, free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0
TICKS = os.sysconf("SC_CLK_TCK")

ETCD_BASE = (
    "{etcd} --name bench --data-dir {data_dir} --listen-client-urls {client_url} "
    "--advertise-client-urls {client_url} --listen-peer-urls {peer_url} "
    "--initial-advertise-peer-urls {peer_url} --initial-cluster bench={peer_url} "
    "--log-level warn"
)
REF_BASE = "{python} -m etcd3py.server_ref --listen-client-urls {client_url}"
# (backend, mode) -> command template; server_compare's --command overrides one.
COMMANDS: dict[tuple[str, str], str] = {
    ("etcd", "fsync"): ETCD_BASE,
    ("etcd", "nofsync"): ETCD_BASE + " --unsafe-no-fsync",
    ("server_ref", "fsync"): REF_BASE + " --data-dir {data_dir}",
    ("server_ref", "nofsync"): REF_BASE + " --data-dir {data_dir} --unsafe-no-fsync",
    ("server_ref", "memory"): REF_BASE,
    # not a server: what grpc.aio costs a Python server that stores nothing (the floor)
    (
        "floor",
        "memory",
    ): "{python} -m benchmarks.workers.floor_server --listen-client-urls {client_url}",
}
MODES = {
    "fsync": "fsync on",
    "nofsync": "no fsync",
    "memory": "in memory",
}


@dataclass(frozen=True)
class ServerSpec:
    backend: str
    mode: str
    template: str

    @property
    def label(self) -> str:
        return f"{self.backend} {self.mode}"

    def command(
        self, client_url: str, peer_url: str, data_dir: Path, tls: TlsFiles | None = None
    ) -> list[str]:
        """The words of the command line; ``tls`` fills {cert_file} {key_file} {ca_file}."""
        values = {
            "etcd": str(etcd_bin_dir() / "etcd"),
            "python": sys.executable,
            "client_url": client_url,
            "peer_url": peer_url,
            "data_dir": str(data_dir),
            "cert_file": str(tls.server_cert) if tls else "/nonexistent",
            "key_file": str(tls.server_key) if tls else "/nonexistent",
            "ca_file": str(tls.ca) if tls else "/nonexistent",
        }
        return [word.format(**values) for word in shlex.split(self.template)]

    def unsupported(self) -> str | None:
        """Why this server cannot run this mode (a flag its --help lacks), or None."""
        words = self.command("http://127.0.0.1:1", "http://127.0.0.1:2", Path("/nonexistent"))
        program = list(_program(words))
        flags = [w.split("=", 1)[0] for w in words[len(program) :] if w.startswith("--")]
        if not flags:
            return None
        try:
            done = subprocess.run(
                [*program, "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"cannot run {shlex.join(program)} --help: {err}"
        text = done.stdout + done.stderr
        missing = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]
        if missing:
            return f"not supported by this {self.backend} (no {', '.join(missing)} in its --help)"
        return None


def _program(words: list[str]) -> Iterator[str]:
    """The words before the first ``--flag``: the program (and its interpreter)."""
    for word in words:
        if word.startswith("--"):
            return
        yield word


def pinned(command: list[str], cpus: frozenset[int] | None) -> list[str]:
    """``command`` started on ``cpus`` only (an exec wrapper: its threads inherit the mask)."""
    if cpus is None:
        return command
    wrapper = "import os, sys; os.sched_setaffinity(0, {%s}); os.execvp(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", wrapper % ",".join(map(str, sorted(cpus))), *command]


def parse_pin(text: str) -> tuple[frozenset[int], frozenset[int]]:
    """``"0:1"``: server on CPU 0, load workers on CPU 1 (``"0,1:2,3"`` for sets)."""
    server, _, clients = text.partition(":")

    def cpus(part: str) -> frozenset[int]:
        return frozenset(int(c) for c in part.split(",") if c.strip())

    if not cpus(server) or not cpus(clients):
        raise ValueError(f"--pin {text!r}: expected SERVER_CPUS:CLIENT_CPUS, e.g. 0:1")
    return cpus(server), cpus(clients)


class Server:
    """One server process on free loopback ports, with a data directory of its own;
    with ``tls``, serving clients on https with those certificates (the spec's template
    names them: {cert_file} {key_file} {ca_file})."""

    def __init__(
        self,
        spec: ServerSpec,
        data_root: Path | None = None,
        cpus: frozenset[int] | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.spec = spec
        self.cpus = cpus
        self.tls = tls
        self.port, self.peer_port = free_port(), free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="etcd3py-srv-bench-", dir=data_root))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def credentials(self) -> grpc.ChannelCredentials | None:
        """What a client needs to connect: None on http; the CA and the client
        certificate on https."""
        return None if self.tls is None else tls_credentials(self.tls)

    def command(self) -> list[str]:
        scheme = "http" if self.tls is None else "https"
        return self.spec.command(
            f"{scheme}://{self.endpoint}",
            f"http://127.0.0.1:{self.peer_port}",
            self.workdir / "data",
            self.tls,
        )

    def __enter__(self) -> Server:
        (self.workdir / "data").mkdir()  # empty: etcd takes it, a server need not make it
        with open(self.workdir / "server.log", "wb") as log:
            self.proc = subprocess.Popen(
                pinned(self.command(), self.cpus),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,
            )
        proc = self.proc
        try:
            wait_until_serving(
                self.endpoint,
                START_TIMEOUT,
                alive=lambda: proc.poll() is None,
                credentials=self.credentials(),
            )
        except (RuntimeError, TimeoutError) as err:
            tail = self.log_tail()
            self.__exit__()
            raise RuntimeError(f"{err}: {tail}") from None
        return self

    def log_tail(self) -> str:
        path = self.workdir / "server.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return " | ".join(lines[-3:]) or "(no output)"

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
        shutil.rmtree(self.workdir, ignore_errors=True)


def tls_credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    """Trust ``tls``' CA and show its client certificate."""
    return grpc.ssl_channel_credentials(
        tls.ca.read_bytes(), tls.client_key.read_bytes(), tls.client_cert.read_bytes()
    )


def preload(
    endpoint: str,
    keys: list[bytes],
    value: bytes,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """Write the keys the get workload reads (64 puts in flight; not measured)."""

    async def run() -> None:
        channel = (
            grpc.aio.insecure_channel(endpoint)
            if credentials is None
            else grpc.aio.secure_channel(endpoint, credentials)
        )
        async with channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            pending = iter(keys)

            async def writer() -> None:
                for key in pending:
                    await stub.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=30)

            await asyncio.gather(*(writer() for _ in range(64)))

    asyncio.run(run())


# ---- CPU time from /proc ----


def _stat_cpu(path: str) -> float:
    """User + system CPU seconds from a /proc stat file (of a process or a thread)."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(child) for child in f.read().split()]
    return found


def process_cpu(pid: int) -> float:
    """CPU seconds of a process, all its threads, and of its live child processes
    (server_ref's front listener, which joins the client port to gRPC)."""
    total = _stat_cpu(f"/proc/{pid}/stat")
    for child in _children(pid):
        with contextlib.suppress(OSError):
            total += _stat_cpu(f"/proc/{child}/stat")
    return total


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process."""
    found: dict[int, float] = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found[int(task)] = _stat_cpu(f"/proc/{pid}/task/{task}/stat")
        except OSError:  # the thread ended meanwhile
            continue
    return found


def busiest(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds of the thread that used the most between two ``thread_cpu`` readings."""
    return max((after[t] - before[t] for t in after.keys() & before.keys()), default=0.0)


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all CPUs) since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / TICKS  # user to steal; guest time is inside user


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
