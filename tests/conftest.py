"""Fixtures shared by the whole suite.

``backend`` runs a test once against server_ref and once against a real etcd 3.5.1;
both servers live for the whole session, and each test works under its own key
prefix (``prefix``), so tests do not see each other's keys.
"""

from __future__ import annotations

import contextlib
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from etcd3py import AsyncClient, Client, UserEmptyError
from etcd3py.server_ref import EmbeddedServer
from tests.support.backends import Backend, WatchStream
from tests.support.clusters import Cluster, cluster_backends, start_cluster
from tests.support.servers import PROGRESS_NOTIFY_INTERVAL, EtcdProcess

BACKENDS = ["server_ref", "etcd"]


def pytest_configure(config: pytest.Config) -> None:
    """Tests stop etcdctl and our command line with Ctrl-C (SIGINT). A shell without job
    control starts a background command (``pytest ... &``) with SIGINT ignored, every
    child inherits that across exec, and neither etcdctl nor Python then sees it: such
    tests hung until their timeout. Handled here (in the main process and each xdist
    worker), SIGINT goes back to its default in every child at exec."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# tests/testing/ runs users' test files (with etcd3py's plugin) in pytest's own harness
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def real_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    root: Path = tmp_path_factory.mktemp("etcd")
    proc = EtcdProcess(root / "data", extra_args=["--unsafe-no-fsync"])
    proc.start()
    try:
        yield proc
    finally:
        proc.remove()


@pytest.fixture(scope="session")
def ref_server() -> Iterator[EmbeddedServer]:
    interval = float(PROGRESS_NOTIFY_INTERVAL.rstrip("s"))
    with EmbeddedServer(progress_notify_interval=interval) as server:
        yield server


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "etcd":
        server = request.getfixturevalue("real_etcd")
    else:
        server = request.getfixturevalue("ref_server")
    b = Backend(request.param, server.endpoint)
    try:
        yield b
    finally:
        b.close()


class Restartable:
    """A server a test may crash (``kill``) and bring back with its data (``revive``)."""

    def __init__(
        self, kind: str, endpoint: str, kill: Callable[[], object], revive: Callable[[], object]
    ) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.kill = kill
        self.revive = revive


def kill_when_durable(proc: EtcdProcess) -> None:
    """kill -9 a one-member etcd once what it acknowledged is on disk.

    etcd 3.5.1 with one member answers a write before its WAL is synced
    (etcd-io/etcd#13766, fixed in 3.5.3), so a crash right after an answer can lose
    it (tests/durability/test_crash.py shows that). The tests that kill a server to
    see the client ride through a restart need the server to keep what it
    acknowledged, so: a linearizable read first. etcd answers it from raft's next
    Ready, which raft gives only after etcd saved (and synced) the previous one, the
    one holding every write answered before the read was sent. With auth on, the
    read is refused for want of a user, but only after that wait (etcd 3.5.1 checks
    permissions after the read index: server/etcdserver/v3_server.go, Range).
    """
    with Client(proc.endpoint, timeout=10) as client, contextlib.suppress(UserEmptyError):
        client.get(b"\0")  # linearizable: the default
    proc.kill()


@pytest.fixture(params=BACKENDS)
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Restartable]:
    """A dedicated server per test, with a data directory (fsync on): real etcd (kill
    -9 once what it acknowledged is durable, see kill_when_durable; restarted on its
    directory) or server_ref (kill() drops what is not on disk; revive() reads
    everything back from the directory)."""
    if request.param == "etcd":
        proc = EtcdProcess(tmp_path / "etcd-data")
        proc.start()
        try:
            yield Restartable("etcd", proc.endpoint, lambda: kill_when_durable(proc), proc.start)
        finally:
            proc.remove()
    else:
        interval = float(PROGRESS_NOTIFY_INTERVAL.rstrip("s"))
        server = EmbeddedServer(
            progress_notify_interval=interval, data_dir=tmp_path / "ref-data"
        ).start()
        try:
            yield Restartable("server_ref", server.endpoint, server.kill, server.revive)
        finally:
            server.stop()


QuotaServer = Callable[[int], Backend]


@pytest.fixture(params=BACKENDS)
def quota_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QuotaServer]:
    """Start dedicated servers with a space quota: ``quota_server(bytes)`` gives a
    backend on a fresh real etcd (``--quota-backend-bytes``) or server_ref
    (``EmbeddedServer(quota_backend_bytes=...)``); all are stopped after the test."""
    stops: list[Callable[[], object]] = []  # last started, first stopped

    def start(quota_bytes: int) -> Backend:
        if request.param == "etcd":
            proc = EtcdProcess(
                tmp_path / f"etcd-{len(stops)}",
                extra_args=["--quota-backend-bytes", str(quota_bytes), "--unsafe-no-fsync"],
            )
            stops.append(proc.remove)
            endpoint = proc.start().endpoint
        else:
            server = EmbeddedServer(  # on a data directory too, as the etcd beside it
                quota_backend_bytes=quota_bytes,
                data_dir=tmp_path / f"ref-{len(stops)}",
                unsafe_no_fsync=True,
            )
            stops.append(server.stop)
            endpoint = server.start().endpoint
        backend = Backend(request.param, endpoint)
        stops.append(backend.close)
        return backend

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture(scope="module", params=cluster_backends(BACKENDS))
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A 3-member cluster per module: real etcd processes, or server_ref's EmbeddedCluster."""
    yield from start_cluster(request.param, tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def healthy_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """The module's cluster with every member running, before and after the test."""
    cluster.ensure_running()
    yield cluster
    cluster.ensure_running()


@pytest.fixture
def prefix() -> bytes:
    """A key prefix no other test uses."""
    return f"/t/{uuid.uuid4().hex[:12]}/".encode()


@pytest.fixture
def watch(backend: Backend) -> Iterator[WatchStream]:
    stream = backend.open_watch()
    try:
        yield stream
    finally:
        stream.close()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"  # grpc.aio runs on asyncio only


@pytest.fixture
async def aclient(backend: Backend) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(backend.endpoint) as client:
        yield client


@pytest.fixture
def client(backend: Backend) -> Iterator[Client]:
    with Client(backend.endpoint) as c:
        yield c


@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:
    """Install an SDK meter provider once (OpenTelemetry allows one per process)."""
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """Install an SDK tracer provider once (OpenTelemetry allows one per process)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    return memory
