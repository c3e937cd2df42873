"""Workloads and measurement shared by every client worker (standard library only).

A worker process measures one workload with one client, so the CPU time of the
process is that client's alone (gRPC's C threads and the client's own background
threads included). It prints ``RESULT <json>`` as its last line; a watch worker
first prints ``READY`` once its watch is created, the cue to start the writer.

Every measurement follows a warm-up and is repeated; each sample holds the
operations done, the wall time and the process CPU time (``time.process_time``:
user + system time of all threads) of the measured section only.

The mutex workload runs contenders (threads or tasks) that take one lock name in
turn for as long as the worker runs; after a warm-up of ``--warmup-time`` seconds,
each of ``--repeats`` windows of ``--window`` seconds is one sample of acquisitions
(hand-offs). Inside the lock each contender checks that nobody else is inside and
bumps a shared counter with a yield in the middle (a lost update shows an overlap
the flag missed); violations are counted and printed, not raised. Every hand-off's
gap, from the moment the holder left (its release starts) to the moment the next
holder is inside, is recorded: median and 99th percentile per window.

The client under test is wrapped in a small adapter (``SyncAdapter`` or
``AsyncAdapter``) doing what a user of that library would write; this module must
not import etcd3py: it also runs under the peers' virtualenvs.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import importlib.metadata
import itertools
import json
import math
import platform
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

WORKLOADS = ("put_seq", "get_seq", "put_conc", "get_conc", "watch", "leases", "mutex")
KEYSPACE = 1000  # distinct keys a put or get workload cycles over
LEASE_SAMPLE = 20  # leases whose remaining TTL is checked after a lease window
# Every client gives each call the same deadline (etcd3py's default): gRPC calls with
# a deadline cost a little more than calls without, and etcd3py always sets one.
CALL_TIMEOUT = 5.0
# The peers' locks take an acquire timeout (10 s is their default, and what their
# ``with`` uses, ignoring the result): a timed-out acquire is counted and retried,
# never entered. etcd3py's Mutex waits without one, as ``with Mutex(...)`` does.
LOCK_TIMEOUT = 10.0
ETCD3PY_LOCK_NOTE = (
    "{api}. Each contender puts <name>/<its lease> (txn, if absent) and watches only "
    "the key created just before its own (etcd's concurrency.Mutex): a release wakes "
    "one waiter, no polling, FIFO"
)
# Contenders still waiting this long after the last window are reported as stuck.
MUTEX_DRAIN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Options:
    endpoint: str
    workload: str
    ops: int  # operations (or watch events) per measured repeat
    warmup: int  # operations (or events) before the first measured repeat
    repeats: int
    concurrency: int
    prefix: bytes
    key_size: int
    value_size: int
    leases: int
    ttl: int
    window: float
    warmup_time: float  # seconds (mutex)

    @property
    def lock_name(self) -> str:
        """The one lock name the mutex contenders share."""
        return self.prefix.decode() + "lock"

    def keys(self) -> list[bytes]:
        return [make_key(self.prefix, i, self.key_size) for i in range(KEYSPACE)]

    @property
    def value(self) -> bytes:
        return b"v" * self.value_size


def make_key(prefix: bytes, i: int, size: int) -> bytes:
    """Key ``i`` under ``prefix``: the prefix, padding and a number, ``size`` bytes."""
    number = b"%012d" % i
    return prefix + b"_" * (size - len(prefix) - len(number)) + number


def parse_options(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description="Run one benchmark workload with one client.")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--ops", type=int, default=5000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--prefix", default="/bench/")
    p.add_argument("--key-size", type=int, default=64)
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument("--leases", type=int, default=1000)
    p.add_argument("--ttl", type=int, default=15)
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--warmup-time", type=float, default=1.0)
    a = p.parse_args(argv)
    if len(a.prefix) + 12 > a.key_size:
        p.error("--key-size too small for the prefix")
    return Options(
        endpoint=a.endpoint,
        workload=a.workload,
        ops=a.ops,
        warmup=a.warmup,
        repeats=a.repeats,
        concurrency=a.concurrency,
        prefix=a.prefix.encode(),
        key_size=a.key_size,
        value_size=a.value_size,
        leases=a.leases,
        ttl=a.ttl,
        window=a.window,
        warmup_time=a.warmup_time,
    )


# ---- measuring ----


class Meter:
    """Wall and process CPU time of a ``with`` block."""

    def __enter__(self) -> Meter:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0

    def sample(self, ops: int) -> dict[str, float]:
        return {"ops": ops, "wall": self.wall, "cpu": self.cpu}


class EventMarks:
    """Turns a stream of watch event counts into samples of ``ops`` events each.

    The first ``warmup`` events are not measured; then every ``ops`` events close
    one sample (a delivery crossing a boundary counts in the sample it ends).
    """

    def __init__(self, warmup: int, ops: int, repeats: int) -> None:
        self.targets = deque(warmup + ops * i for i in range(repeats + 1))
        self.seen = 0
        self.marks: list[tuple[int, float, float]] = []

    def add(self, count: int) -> bool:
        """Count delivered events; True once the last sample is complete."""
        self.seen += count
        while self.targets and self.seen >= self.targets[0]:
            self.targets.popleft()
            self.marks.append((self.seen, time.perf_counter(), time.process_time()))
        return not self.targets

    def samples(self) -> list[dict[str, float]]:
        return [
            {"ops": n1 - n0, "wall": w1 - w0, "cpu": c1 - c0}
            for (n0, w0, c0), (n1, w1, c1) in zip(self.marks, self.marks[1:], strict=False)
        ]


def announce_ready() -> None:
    """Tell the orchestrator the watch is in place (it then starts the writer)."""
    print("READY", flush=True)


class RefreshSchedule:
    """Per-lease refresh times: each lease every ``period`` seconds from its grant.

    The cadence etcd3py's keep-alive uses (TTL/3 per lease), for the clients that
    have no background keep-alive and for the raw-stub floors.
    """

    def __init__(self, period: float) -> None:
        self.period = period
        self._due: deque[tuple[float, int]] = deque()  # (due time, lease id), in due order

    def add(self, lease_id: int) -> None:
        self._due.append((time.monotonic() + self.period, lease_id))

    def pop_due(self) -> list[int]:
        """Ids due now; each is rescheduled one period from now."""
        now = time.monotonic()
        due: list[int] = []
        while self._due and self._due[0][0] <= now:
            due.append(self._due.popleft()[1])
        self._due.extend((now + self.period, lease_id) for lease_id in due)
        return due

    def wait_time(self) -> float:
        if not self._due:
            return self.period
        return max(0.0, self._due[0][0] - time.monotonic())


def run_refresh_loop(
    schedule: RefreshSchedule, refresh: Callable[[int], object], stop: threading.Event
) -> None:
    """Refresh leases as they fall due until ``stop`` is set (a thread's body)."""
    while not stop.is_set():
        for lease_id in schedule.pop_due():
            refresh(lease_id)
        stop.wait(schedule.wait_time())


async def run_refresh_task(
    schedule: RefreshSchedule, refresh: Callable[[int], Awaitable[object]]
) -> None:
    """Refresh leases as they fall due, forever (an asyncio task's body: cancel it)."""
    while True:
        for lease_id in schedule.pop_due():
            await refresh(lease_id)
        await asyncio.sleep(schedule.wait_time())


def emit(samples: list[dict[str, float]], packages: Sequence[str], **extra: Any) -> None:
    """Print the result line the orchestrator reads."""
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "?"
    result = {
        "samples": samples,
        "versions": versions,
        "python": platform.python_version(),
        "protobuf_impl": _protobuf_implementation(),
        **extra,
    }
    print("RESULT " + json.dumps(result), flush=True)


def _protobuf_implementation() -> str:
    """ "upb", "cpp" or "python": a pure-Python protobuf makes a client much slower."""
    try:
        from google.protobuf.internal import api_implementation
    except ImportError:
        return "?"
    return str(api_implementation.Type())


def prefix_end(prefix: bytes) -> bytes:
    """The range end covering every key that starts with ``prefix``."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return b"\0"
    end[-1] += 1
    return bytes(end)


def split(total: int, parts: int) -> list[int]:
    """``total`` operations shared out as evenly as possible over ``parts`` workers."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _check_value(value: bytes | None, key: bytes) -> None:
    if not value:
        raise RuntimeError(f"get {key!r} returned no value")


# ---- mutex: contended hand-offs of one lock ----


@dataclass(frozen=True)
class MutexMark:
    counts: list[int]
    switches: int
    wall: float
    cpu: float
    max_gap: float  # longest time with nobody inside since the previous mark
    gaps: list[float]  # each release-to-next-acquisition gap since the previous mark


class MutexBook:
    """What the contenders of one process share: who is inside, and the tallies.

    ``enter``/``leave`` bracket a critical section: entering while someone else is
    inside, or finding the shared counter moved by someone else meanwhile (a lost
    update), is an exclusion violation.
    """

    def __init__(self, contenders: int) -> None:
        self.counts = [0] * contenders  # acquisitions per contender
        self.switches = 0  # acquisitions by another contender than the previous holder
        self.counter = 0  # bumped inside the lock, read-yield-write
        self.holder: int | None = None
        self.last_holder: int | None = None
        self.violations = 0
        self.violation_examples: list[str] = []
        self.timeouts = [0] * contenders  # acquires that gave up (peers' LOCK_TIMEOUT)
        self.ready = 0  # contenders set up (sessions started)
        self.stop = False
        self.left_at = time.perf_counter()  # when the lock was last left
        self.max_gap = 0.0  # longest time with nobody inside, since the last mark
        self.gaps: list[float] = []  # release-to-next-acquisition gaps, since the last mark

    def _violation(self, what: str) -> None:
        self.violations += 1
        if len(self.violation_examples) < 5:
            self.violation_examples.append(what)
            print(f"EXCLUSION VIOLATION: {what}", file=sys.stderr, flush=True)

    def enter(self, index: int) -> int:
        now = time.perf_counter()
        if self.holder is not None:
            self._violation(f"contender {index} entered while contender {self.holder} was inside")
        else:
            gap = now - self.left_at
            self.gaps.append(gap)
            self.max_gap = max(self.max_gap, gap)
        self.holder = index
        if index != self.last_holder:
            self.switches += 1
            self.last_holder = index
        return self.counter

    def leave(self, index: int, seen: int) -> None:
        if self.counter != seen:
            self._violation(
                f"lost update: the counter went from {seen} to {self.counter} while "
                f"contender {index} was inside"
            )
        self.counter = seen + 1
        self.counts[index] += 1
        if self.holder != index:
            self._violation(f"contender {self.holder} was inside when contender {index} left")
        self.holder = None
        self.left_at = time.perf_counter()

    def mark(self) -> MutexMark:
        gap, self.max_gap = self.max_gap, 0.0
        gaps, self.gaps = self.gaps, []
        return MutexMark(
            list(self.counts), self.switches, time.perf_counter(), time.process_time(), gap, gaps
        )

    @staticmethod
    def sample(before: MutexMark, after: MutexMark) -> dict[str, float]:
        """One window: acquisitions (``ops``), fairness, hand-offs to another contender."""
        per = [b - a for a, b in zip(before.counts, after.counts, strict=True)]
        return {
            "ops": sum(per),
            "wall": after.wall - before.wall,
            "cpu": after.cpu - before.cpu,
            "min": min(per),
            "max": max(per),
            "switches": after.switches - before.switches,
            "max_gap": after.max_gap,
            "gap_p50": quantile(after.gaps, 0.5),
            "gap_p99": quantile(after.gaps, 0.99),
        }

    def extra(self, note: str, drain: MutexMark) -> dict[str, Any]:
        """The run's totals; ``drain`` is the mark taken once every contender stopped."""
        total = sum(self.counts)
        if self.counter != total:
            self._violation(f"the counter ended at {self.counter} after {total} acquisitions")
        return {
            "lock_note": note,
            "violations": self.violations,
            "violation_examples": self.violation_examples,
            "timeouts": sum(self.timeouts),
            "acquisitions": total,
            "drain_max_gap": drain.max_gap,  # the longest lock-free gap while stopping
        }


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank); NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _locking(client: Any) -> Any:
    """The client, if it has a lock to measure."""
    if not hasattr(client, "mutex_contender"):
        raise SystemExit(f"{type(client).__name__} has no lock: no mutex workload")
    return client


def _stuck(count: int) -> RuntimeError:
    return RuntimeError(
        f"{count} contenders still waiting for the lock {MUTEX_DRAIN_TIMEOUT:g}s after the "
        "last window (stacks on stderr)"
    )


# ---- sync clients ----


class SyncAdapter(Protocol):
    """What a worker needs from a blocking client."""

    @property
    def packages(self) -> Sequence[str]:
        """Distributions whose versions are reported."""
        ...

    @property
    def lease_note(self) -> str:
        """How this client keeps leases alive."""
        ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def get(self, key: bytes) -> bytes | None: ...

    def watch_prefix(self, prefix: bytes, ready: Callable[[], None]) -> Generator[int, None, None]:
        """Watch a prefix; call ``ready`` once created; yield the events per delivery."""
        ...

    def hold_leases(self, count: int, ttl: int) -> None:
        """Grant ``count`` leases and keep them alive in the background."""
        ...

    def lease_ttls(self, sample: int) -> list[int]:
        """Remaining TTLs of the first ``sample`` leases, as etcd reports them."""
        ...

    def close(self) -> None: ...


class SyncLocking(SyncAdapter, Protocol):
    """A blocking client with a lock (the mutex workload; the raw stubs: workers/raw_lock.py)."""

    @property
    def lock_note(self) -> str:
        """The lock API used, and how a waiter waits."""
        ...

    def mutex_contender(
        self, name: str, ttl: int
    ) -> AbstractContextManager[Callable[[], AbstractContextManager[object]]]:
        """One contender's setup for the whole run (etcd3py: its session).

        It gives a function making one holding of the lock: a context entered with
        the lock held, or entered as ``False`` when the acquire timed out.
        """
        ...


def run_sync(open_client: Callable[[str], SyncAdapter], argv: Sequence[str] | None = None) -> None:
    """The main function of a blocking client's worker."""
    opts = parse_options(argv)
    client = open_client(opts.endpoint)
    try:
        extra: dict[str, Any] = {}
        if opts.workload == "watch":
            samples = _sync_watch(client, opts)
        elif opts.workload == "leases":
            samples, extra = _sync_leases(client, opts)
        elif opts.workload == "mutex":
            samples, extra = _sync_mutex(_locking(client), opts)
        else:
            samples = _sync_kv(client, opts)
        emit(samples, client.packages, **extra)
    finally:
        client.close()


def _sync_kv(client: SyncAdapter, opts: Options) -> list[dict[str, float]]:
    keys, value = opts.keys(), opts.value

    def put(key: bytes) -> None:
        client.put(key, value)

    def get(key: bytes) -> None:
        _check_value(client.get(key), key)

    if opts.workload.startswith("get"):
        for key in keys:
            client.put(key, value)
    op = get if opts.workload.startswith("get") else put
    run = _sequential if opts.workload.endswith("seq") else _threaded
    run(op, keys, opts.warmup, opts.concurrency)
    samples = []
    for _ in range(opts.repeats):
        samples.append(run(op, keys, opts.ops, opts.concurrency).sample(opts.ops))
    return samples


def _sequential(op: Callable[[bytes], None], keys: list[bytes], total: int, _: int) -> Meter:
    n = len(keys)
    with Meter() as meter:
        for i in range(total):
            op(keys[i % n])
    return meter


def _threaded(op: Callable[[bytes], None], keys: list[bytes], total: int, threads: int) -> Meter:
    """``total`` operations over ``threads`` threads, started before the clock starts."""
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    n = len(keys)

    def work(index: int, count: int) -> None:
        start.wait()
        try:
            for j in range(count):
                op(keys[(index + j * threads) % n])
        except BaseException as err:
            errors.append(err)

    workers = [
        threading.Thread(target=work, args=(i, count), daemon=True)
        for i, count in enumerate(split(total, threads))
    ]
    for worker in workers:
        worker.start()
    with Meter() as meter:
        start.wait()
        for worker in workers:
            worker.join()
    if errors:
        raise errors[0]
    return meter


def _sync_watch(client: SyncAdapter, opts: Options) -> list[dict[str, float]]:
    marks = EventMarks(opts.warmup, opts.ops, opts.repeats)
    events = client.watch_prefix(opts.prefix, announce_ready)
    for count in events:
        if marks.add(count):
            break
    events.close()
    return marks.samples()


def _sync_leases(
    client: SyncAdapter, opts: Options
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    client.hold_leases(opts.leases, opts.ttl)
    with Meter() as meter:
        time.sleep(opts.window)
    ttls = client.lease_ttls(LEASE_SAMPLE)
    return [meter.sample(_refreshes(opts))], _lease_extra(client.lease_note, ttls)


def _refreshes(opts: Options) -> int:
    """Renewals expected in the window: every lease every TTL/3."""
    return round(opts.leases * opts.window / (opts.ttl / 3))


def _lease_extra(note: str, ttls: list[int]) -> dict[str, Any]:
    return {"lease_note": note, "min_ttl": min(ttls) if ttls else None}


def _sync_mutex(
    client: SyncLocking, opts: Options
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """``opts.concurrency`` threads taking one lock in turn; a sample per window."""
    book = MutexBook(opts.concurrency)
    ready = threading.Barrier(opts.concurrency + 1)
    errors: list[BaseException] = []

    def contend(index: int) -> None:
        try:
            with client.mutex_contender(opts.lock_name, opts.ttl) as holding:
                ready.wait()
                while not book.stop:
                    with holding() as held:
                        if held is False:
                            book.timeouts[index] += 1
                            continue
                        seen = book.enter(index)
                        time.sleep(0)  # let any other thread run: would it get in?
                        book.leave(index, seen)
        except threading.BrokenBarrierError:
            pass
        except BaseException as err:
            errors.append(err)
            ready.abort()

    threads = [
        threading.Thread(target=contend, args=(i,), name=f"contender-{i}", daemon=True)
        for i in range(opts.concurrency)
    ]
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=60)
    except threading.BrokenBarrierError:
        book.stop = True
        raise (errors[0] if errors else RuntimeError("contenders not set up in 60 s")) from None
    time.sleep(opts.warmup_time)
    marks = [book.mark()]
    for _ in range(opts.repeats):
        time.sleep(opts.window)
        marks.append(book.mark())
    book.stop = True
    deadline = time.monotonic() + MUTEX_DRAIN_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    stuck = [t for t in threads if t.is_alive()]
    if stuck:
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        raise _stuck(len(stuck))
    samples = [MutexBook.sample(a, b) for a, b in itertools.pairwise(marks)]
    return samples, book.extra(client.lock_note, book.mark())


# ---- async clients ----


class AsyncAdapter(Protocol):
    """What a worker needs from an asyncio client."""

    @property
    def packages(self) -> Sequence[str]: ...

    @property
    def lease_note(self) -> str: ...

    async def put(self, key: bytes, value: bytes) -> None: ...

    async def get(self, key: bytes) -> bytes | None: ...

    def watch_prefix(self, prefix: bytes, ready: Callable[[], None]) -> AsyncGenerator[int, None]:
        """Watch a prefix; call ``ready`` once created; yield the events per delivery."""
        ...

    async def hold_leases(self, count: int, ttl: int) -> None: ...

    async def lease_ttls(self, sample: int) -> list[int]: ...

    async def close(self) -> None: ...


class AsyncLocking(AsyncAdapter, Protocol):
    """An asyncio client with a lock (the mutex workload)."""

    @property
    def lock_note(self) -> str: ...

    def mutex_contender(
        self, name: str, ttl: int
    ) -> AbstractAsyncContextManager[Callable[[], AbstractAsyncContextManager[object]]]:
        """As SyncLocking.mutex_contender, with async contexts."""
        ...


def run_async(
    open_client: Callable[[str], Awaitable[AsyncAdapter]], argv: Sequence[str] | None = None
) -> None:
    """The main function of an asyncio client's worker."""
    opts = parse_options(argv)
    asyncio.run(_run_async(open_client, opts))


async def _run_async(open_client: Callable[[str], Awaitable[AsyncAdapter]], opts: Options) -> None:
    client = await open_client(opts.endpoint)
    try:
        extra: dict[str, Any] = {}
        if opts.workload == "watch":
            samples = await _async_watch(client, opts)
        elif opts.workload == "leases":
            samples, extra = await _async_leases(client, opts)
        elif opts.workload == "mutex":
            samples, extra = await _async_mutex(_locking(client), opts)
        else:
            samples = await _async_kv(client, opts)
        emit(samples, client.packages, **extra)
    finally:
        await client.close()


AsyncOp = Callable[[bytes], Awaitable[None]]


async def _async_kv(client: AsyncAdapter, opts: Options) -> list[dict[str, float]]:
    keys, value = opts.keys(), opts.value

    async def put(key: bytes) -> None:
        await client.put(key, value)

    async def get(key: bytes) -> None:
        _check_value(await client.get(key), key)

    if opts.workload.startswith("get"):
        for key in keys:
            await client.put(key, value)
    op = get if opts.workload.startswith("get") else put
    run = _async_sequential if opts.workload.endswith("seq") else _async_tasks
    await run(op, keys, opts.warmup, opts.concurrency)
    samples = []
    for _ in range(opts.repeats):
        samples.append((await run(op, keys, opts.ops, opts.concurrency)).sample(opts.ops))
    return samples


async def _async_sequential(op: AsyncOp, keys: list[bytes], total: int, _: int) -> Meter:
    n = len(keys)
    with Meter() as meter:
        for i in range(total):
            await op(keys[i % n])
    return meter


async def _async_tasks(op: AsyncOp, keys: list[bytes], total: int, tasks: int) -> Meter:
    """``total`` operations over ``tasks`` tasks, created before the clock starts."""
    go = asyncio.Event()
    n = len(keys)

    async def work(index: int, count: int) -> None:
        await go.wait()
        for j in range(count):
            await op(keys[(index + j * tasks) % n])

    running = [asyncio.create_task(work(i, c)) for i, c in enumerate(split(total, tasks))]
    await asyncio.sleep(0)  # let every task reach go.wait()
    with Meter() as meter:
        go.set()
        await asyncio.gather(*running)
    return meter


async def _async_watch(client: AsyncAdapter, opts: Options) -> list[dict[str, float]]:
    marks = EventMarks(opts.warmup, opts.ops, opts.repeats)
    events = client.watch_prefix(opts.prefix, announce_ready)
    async for count in events:
        if marks.add(count):
            break
    await events.aclose()
    return marks.samples()


async def _async_leases(
    client: AsyncAdapter, opts: Options
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    await client.hold_leases(opts.leases, opts.ttl)
    with Meter() as meter:
        await asyncio.sleep(opts.window)
    ttls = await client.lease_ttls(LEASE_SAMPLE)
    return [meter.sample(_refreshes(opts))], _lease_extra(client.lease_note, ttls)


async def _async_mutex(
    client: AsyncLocking, opts: Options
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """``opts.concurrency`` tasks taking one lock in turn; a sample per window."""
    book = MutexBook(opts.concurrency)
    go = asyncio.Event()

    async def contend(index: int) -> None:
        async with client.mutex_contender(opts.lock_name, opts.ttl) as holding:
            book.ready += 1
            await go.wait()
            while not book.stop:
                async with holding() as held:
                    if held is False:
                        book.timeouts[index] += 1
                        continue
                    seen = book.enter(index)
                    await asyncio.sleep(0)  # let any other task run: would it get in?
                    book.leave(index, seen)

    tasks = [asyncio.create_task(contend(i)) for i in range(opts.concurrency)]
    setup_deadline = time.monotonic() + 60
    while book.ready < opts.concurrency:
        failed = [t for t in tasks if t.done()]
        if failed or time.monotonic() > setup_deadline:
            book.stop = True
            go.set()
            for task in failed:
                task.result()  # raises what the contender raised
            raise RuntimeError("contenders not set up in 60 s")
        await asyncio.sleep(0.01)
    go.set()
    await asyncio.sleep(opts.warmup_time)
    marks = [book.mark()]
    for _ in range(opts.repeats):
        await asyncio.sleep(opts.window)
        marks.append(book.mark())
    book.stop = True
    done, pending = await asyncio.wait(tasks, timeout=MUTEX_DRAIN_TIMEOUT)
    for task in done:
        task.result()
    if pending:
        for task in pending:
            task.print_stack(file=sys.stderr)
            task.cancel()
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        raise _stuck(len(pending))
    samples = [MutexBook.sample(a, b) for a, b in itertools.pairwise(marks)]
    return samples, book.extra(client.lock_note, book.mark())
