"""``check perf``: etcdctl's one-minute write benchmark with its PASS/FAIL verdicts.

Its loads (writes per second, clients, 60 seconds) and its keys (the prefix then a
256-byte key holding a random varint, 1 KiB values of zeros) are etcdctl's; the clients
are threads sharing one connection per client slot up to ``MAX_CONNECTIONS``. The run
always lasts 60 seconds, as etcdctl's (no flag shortens it). ``check datascale`` is not
implemented: it needs the server's memory use from its metrics endpoint.
"""

from __future__ import annotations

import random
import signal
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import click

import etcd3py

from .app import Config, EtcdCommand, EtcdGroup, pass_config, root
from .errors import (
    EXIT_BAD_FEATURE,
    EXIT_ERROR,
    EXIT_INVALID_INPUT,
    CliError,
    error_text,
    exit_quietly,
)
from .flags import BOOL, STRING, flag
from .output.stream import line, write

# load: (writes per second, clients), as etcdctl's checkPerfCfgMap
LOADS = {"s": (150, 50), "m": (1000, 200), "l": (8000, 500), "xl": (15000, 1000)}
ALIASES = {"small": "s", "medium": "m", "large": "l", "xLarge": "xl"}
DURATION = 60  # seconds
MAX_CONNECTIONS = 8  # gRPC channels shared by the client threads
KEY_SIZE, VALUE = 256, bytes(1024)


@root.group(
    "check",
    cls=EtcdGroup,
    use="check <subcommand>",
    help="commands for checking properties of the etcd cluster",
)
def check_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


def varint_key(prefix: bytes, number: int) -> bytes:
    """Go's binary.PutVarint of ``number`` into a zeroed 256-byte key, after the prefix."""
    zigzag = number << 1  # number is positive: zig-zag is a shift
    raw = bytearray()
    while True:
        byte = zigzag & 0x7F
        zigzag >>= 7
        raw.append(byte | (0x80 if zigzag else 0))
        if not zigzag:
            break
    return prefix + bytes(raw) + bytes(KEY_SIZE - len(raw))


@dataclass
class Results:
    """Latencies and errors of the writes, as etcd's report package sums them up."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_start: float = 0.0
    last_end: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, start: float, end: float, error: str | None) -> None:
        with self.lock:
            if not self.first_start or start < self.first_start:
                self.first_start = start
            self.last_end = max(self.last_end, end)
            if error is None:
                self.latencies.append(end - start)
            else:
                self.errors[error] += 1

    def rps(self) -> float:
        total = self.last_end - self.first_start
        return len(self.latencies) / total if total > 0 else 0.0

    def slowest(self) -> float:
        return max(self.latencies, default=0.0)

    def stddev(self) -> float:
        return statistics.pstdev(self.latencies) if self.latencies else 0.0


class ProgressBar:
    """cheggaaa/pb's counter as etcdctl draws it without a terminal (no bar, no width):
    ``\r 1 / 60    1.67% 00m59s``, redrawn in place; the total time at the end."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def draw(self, final: bool = False) -> None:
        percent = f"{100.0 * self.done / self.total:.2f}%".rjust(9)
        text = f"\r {self.done} / {self.total}{percent}"
        elapsed = time.monotonic() - self.started
        if final:
            text += " " + go_seconds(round(elapsed))
        elif 0 < self.done < self.total:
            left = round(elapsed / self.done * (self.total - self.done))
            if left >= 1:
                text += f" {left // 60:02d}m{left % 60:02d}s"
        write(text)

    def step(self) -> None:
        self.done += 1
        self.draw(final=self.done == self.total)

    def finish(self) -> None:
        write("\n")


def go_seconds(seconds: int) -> str:
    """Go's Duration.String of whole seconds: ``59s``, ``1m0s``."""
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def run_load(
    clients: list[etcd3py.Client], prefix: bytes, limit: int, workers: int, stop: threading.Event
) -> Results:
    """``limit`` writes a second for DURATION seconds (or until ``stop``), by ``workers``
    threads; one second of the progress bar at a time."""
    results = Results()
    slots = threading.Semaphore(0)
    done = threading.Event()

    def worker(client: etcd3py.Client) -> None:
        while True:
            slots.acquire()
            if done.is_set():
                return
            key = varint_key(prefix, random.randrange(1 << 63))
            start = time.monotonic()
            try:
                client.put(key, VALUE)
                error = None
            except etcd3py.EtcdError as failure:
                error = error_text(failure)
            results.add(start, time.monotonic(), error)

    threads = [
        threading.Thread(target=worker, args=(clients[i % len(clients)],), daemon=True)
        for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    bar = ProgressBar(DURATION)
    bar.draw()
    begin = time.monotonic()
    issued = 0
    while not stop.is_set():
        elapsed = time.monotonic() - begin
        if elapsed >= DURATION:
            break
        while bar.done < min(int(elapsed), DURATION):
            bar.step()
        due = int(elapsed * limit) + 1  # a rate limiter with a burst of one
        if issued < due:
            slots.release()
            issued += 1
        else:
            stop.wait(min(1.0 / limit, 0.01))
    while bar.done < DURATION and not stop.is_set():
        bar.step()
    bar.finish()
    done.set()
    for _ in threads:
        slots.release()
    for thread in threads:
        thread.join()
    return results


def cleanup(config: Config, client: etcd3py.Client, prefix: bytes, compact: bool) -> None:
    """etcdctl's attemptCleanup: delete the prefix; compact at the deletion's revision."""
    try:
        deleted = client.delete(prefix, prefix=True, timeout=30)
    except etcd3py.EtcdError as error:
        line(f"FAIL: Cleanup failed during key deletion: ERROR({error_text(error)})")
        return
    if compact:
        revision = deleted.header.revision
        line(f"Compacting with revision {revision}")
        client.compact(revision, physical=True)
        line(f"Compacted with revision {revision}")


@check_group.command(
    "perf", cls=EtcdCommand, use="perf [options]", help="Check the performance of the etcd cluster"
)
@click.argument("args", nargs=-1)
@flag(
    "--load",
    type=STRING,
    default="s",
    usage="The performance check's workload model. Accepted workloads: s(small), m(medium),"
    " l(large), xl(xLarge)",
)
@flag(
    "--prefix",
    type=STRING,
    default="/etcdctl-check-perf/",
    usage="The prefix for writing the performance check's keys.",
)
@flag(
    "--auto-compact",
    type=BOOL,
    default=False,
    usage="Compact storage with last revision after test is finished.",
)
@flag("--auto-defrag", type=BOOL, default=False, usage="Defragment storage after test is finished.")
@pass_config
def perf_command(
    config: Config,
    args: tuple[str, ...],
    load: str,
    prefix: str,
    auto_compact: bool,
    auto_defrag: bool,
) -> None:
    model = ALIASES.get(load, load)
    if model not in LOADS:
        raise CliError(EXIT_BAD_FEATURE, f"unknown load option {load}")
    limit, workers = LOADS[model]
    key_prefix = prefix.encode()
    clients = [config.client() for _ in range(min(workers, MAX_CONNECTIONS))]
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        first = clients[0]
        if first.get(key_prefix, prefix=True, limit=1).kvs:
            raise CliError(
                EXIT_INVALID_INPUT,
                f"prefix {go_quoted(prefix)} has keys. Delete with 'etcdctl del --prefix"
                f" {prefix}' first",
            )
        results = run_load(clients, key_prefix, limit, workers, stop)
        cleanup(config, first, key_prefix, auto_compact)
        if auto_defrag:
            for endpoint in config.endpoints():
                line(f"Defragmenting {go_quoted(endpoint)}")
                first.defragment(endpoint, timeout=30)
                line(f"Defragmented {go_quoted(endpoint)}")
        report(results, limit)
    finally:
        signal.signal(signal.SIGINT, previous)
        for client in clients:
            client.close()


def go_quoted(text: str) -> str:
    from .output.text import go_quote

    return go_quote(text.encode())


def report(results: Results, limit: int) -> None:
    """etcdctl's verdicts; exit 1 on any FAIL."""
    ok = True
    if results.errors:
        line("FAIL: too many errors")
        for error, count in results.errors.items():
            line(f"FAIL: ERROR({error}) -> {count}")
        ok = False
    rps = results.rps()
    if rps / limit <= 0.9:
        line(f"FAIL: Throughput too low: {int(rps) + 1} writes/s")
        ok = False
    else:
        line(f"PASS: Throughput is {int(rps) + 1} writes/s")
    slowest, stddev = results.slowest(), results.stddev()
    if slowest > 0.5:
        line(f"Slowest request took too long: {slowest:f}s")
        ok = False
    else:
        line(f"PASS: Slowest request took {slowest:f}s")
    if stddev > 0.1:
        line(f"Stddev too high: {stddev:f}s")
        ok = False
    else:
        line(f"PASS: Stddev is {stddev:f}s")
    line("PASS" if ok else "FAIL")
    if not ok:
        exit_quietly(EXIT_ERROR)


@check_group.command(
    "datascale",
    cls=EtcdCommand,
    use="datascale [options]",
    help="Check the memory usage of holding data for different workloads on a given server"
    " endpoint.",
    long="If no endpoint is provided, localhost will be used. If multiple endpoints are"
    " provided, first endpoint will be used.",
)
@click.argument("args", nargs=-1)
@flag(
    "--load",
    type=STRING,
    default="s",
    usage="The datascale check's workload model. Accepted workloads: s(small), m(medium),"
    " l(large), xl(xLarge)",
)
@flag(
    "--prefix",
    type=STRING,
    default="/etcdctl-check-datascale/",
    usage="The prefix for writing the datascale check's keys.",
)
@flag(
    "--auto-compact",
    type=BOOL,
    default=False,
    usage="Compact storage with last revision after test is finished.",
)
@flag("--auto-defrag", type=BOOL, default=False, usage="Defragment storage after test is finished.")
@pass_config
def datascale_command(config: Config, args: tuple[str, ...], **_: object) -> None:
    # it reads the server's memory from its /metrics page, which no public client call gives
    raise CliError(
        EXIT_BAD_FEATURE,
        "check datascale is not supported by etcd3py (it needs the server's memory use, which"
        " the client API does not report)",
    )
