"""What a benchmark run measures (settings, workloads) and what one measurement gave."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from benchmarks.peers import ClientSpec


@dataclass(frozen=True)
class Settings:
    ops: int  # operations per measured repeat (put/get workloads)
    warmup: int  # operations before the first measured repeat, in each worker
    rounds: int  # every client runs every workload once per round, clients interleaved
    lease_rounds: int  # rounds that include the (long) lease workload
    concurrency: int  # threads (sync clients) or tasks (async clients)
    watch_events: int  # events per measured repeat of the watch workload
    watch_warmup: int
    leases: int
    lease_ttl: int  # seconds; each lease is renewed every TTL/3
    lease_window: float  # seconds measured: TTL/3, so each lease is renewed once in it
    repeats: int = 1  # measured repeats inside one worker process
    key_size: int = 64
    value_size: int = 256
    quick: bool = False
    mutex_contenders: int = 8  # threads or tasks taking one lock name in turn
    mutex_window: float = 5.0  # seconds per measured repeat
    mutex_warmup: float = 1.0  # seconds of contention before the first window
    mutex_ttl: int = 10  # the lock's lease (session) TTL, seconds


# Short interleaved rounds: on a shared 2-core machine the median of four runs, each
# next to the other clients in time, is steadier than long runs one after another.
FULL = Settings(
    ops=1500,
    warmup=400,
    rounds=4,
    lease_rounds=1,
    concurrency=64,
    watch_events=1500,
    watch_warmup=300,
    leases=1000,
    lease_ttl=30,
    lease_window=10.0,
)
# One round, three repeats inside each worker: no interleaving, about 3 minutes.
QUICK = Settings(
    ops=500,
    warmup=200,
    rounds=1,
    lease_rounds=1,
    repeats=3,
    concurrency=64,
    watch_events=500,
    watch_warmup=200,
    leases=1000,
    lease_ttl=12,
    lease_window=4.0,
    quick=True,
    mutex_window=2.0,
    mutex_warmup=0.5,
)


@dataclass(frozen=True)
class Workload:
    key: str  # the worker's --workload
    title: str
    unit: str  # what one operation is
    concurrent: bool = False
    raw_stubs: bool = True  # False: the floors have no such API, not run

    def mode(self, spec: ClientSpec, settings: Settings) -> str:
        """How the client drives the workload, e.g. "sync, 64 threads"."""
        if self.key in ("watch", "leases"):
            return spec.kind
        n = settings.concurrency if self.concurrent else 1
        if self.key == "mutex":
            n = settings.mutex_contenders
        unit = "thread" if spec.kind == "sync" else "task"
        return f"{spec.kind}, {n} {unit}{'s' if n > 1 else ''}"


WORKLOADS = [
    Workload("put_seq", "sequential put", "op"),
    Workload("get_seq", "sequential get", "op"),
    Workload("put_conc", "concurrent put", "op", concurrent=True),
    Workload("get_conc", "concurrent get", "op", concurrent=True),
    Workload("watch", "watch: events to one prefix watcher", "event"),
    Workload("leases", "leases kept alive", "renewal"),
    Workload("mutex", "mutex: contended hand-offs of one lock", "acquisition"),
]


@dataclass
class Outcome:
    """One client on one workload: its samples, or why there are none."""

    spec: ClientSpec
    samples: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    other_load: list[float] = field(default_factory=list)  # cores busy elsewhere, per run
    runs: list[dict[str, Any]] = field(default_factory=list)  # each worker run's extras

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    def _median(self, values: list[float]) -> float:
        return statistics.median(values)

    def last(self) -> str:
        """The latest sample, for progress lines."""
        s = self.samples[-1]
        return f"{s['ops'] / s['wall']:,.0f}/s, {_per_op(s) * 1e6:,.0f} µs CPU each"

    @property
    def rate(self) -> float:
        """Operations (or events) per second of wall time, median of the repeats."""
        return self._median(self.rates())

    def rates(self) -> list[float]:
        """Operations (or events) per second of wall time, one per repeat."""
        return [s["ops"] / s["wall"] for s in self.samples]

    def cpu_per_op(self) -> list[float]:
        """Client CPU microseconds per operation, one per repeat."""
        return [_per_op(s) * 1e6 for s in self.samples]

    @property
    def cpu_us(self) -> float:
        return self._median(self.cpu_per_op())

    @property
    def cpu_per_s(self) -> float:
        """Client CPU seconds per second of wall time, median of the repeats."""
        return self._median([s["cpu"] / s["wall"] for s in self.samples])


def _per_op(sample: dict[str, float]) -> float:
    """CPU seconds per operation (infinite for a window without any: a stalled lock)."""
    return sample["cpu"] / sample["ops"] if sample["ops"] else float("inf")
