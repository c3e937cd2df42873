"""The benchmark report, in etcd's words and layout (etcd's pkg/report).

Results are added as they finish; ``text()`` renders the summary, the response time
histogram, the latency percentiles, the per-second samples (``--sample``) and the
error distribution exactly as etcd's benchmark prints them, so the output of the two
tools can be read (and parsed) the same way.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..gofmt import go_duration, go_g

__all__ = ["PERCENTILES", "Report", "SecondPoint"]

PERCENTILES = (10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9)
BAR_CHAR = "∎"
BUCKETS = 10
BAR_WIDTH = 40


@dataclass
class SecondPoint:
    """The requests that started within one Unix second (``--sample``)."""

    min_ns: int = 0
    max_ns: int = 0
    total_ns: int = 0
    count: int = 0

    def add(self, latency_ns: int) -> None:
        if self.count == 0:
            self.min_ns = self.max_ns = self.total_ns = latency_ns
        else:
            if latency_ns != 0:
                self.min_ns = min(self.min_ns, latency_ns)
            self.max_ns = max(self.max_ns, latency_ns)
            self.total_ns += latency_ns
        self.count += 1


@dataclass
class Report:
    """Latencies and errors of one measured run.

    ``precise`` prints with Go's ``%g`` instead of ``%4.4f``; ``sample`` adds a row
    per second (min, average and max latency, requests) as etcd's ``--sample`` does.
    """

    precise: bool = False
    sample: bool = False
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: dict[int, SecondPoint] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    total: float | None = None
    # perf_counter -> Unix time, for the per-second samples
    _wall_offset: float = field(default_factory=lambda: time.time() - time.perf_counter())

    def start(self) -> None:
        """(Re)start the clock of the whole run (etcd: when the report starts reading)."""
        self.started = time.perf_counter()

    def add(self, start: float, end: float, error: BaseException | None = None) -> None:
        """One request that ran from ``start`` to ``end`` (``time.perf_counter()``)."""
        if error is not None:
            message = str(error) or type(error).__name__
            self.errors[message] = self.errors.get(message, 0) + 1
            return
        latency = end - start
        self.latencies.append(latency)
        if self.sample:
            second = int(start + self._wall_offset)
            self.seconds.setdefault(second, SecondPoint()).add(round(latency * 1e9))

    def finish(self) -> None:
        """Stop the clock: the run's total time ends here."""
        self.total = time.perf_counter() - self.started

    @property
    def count(self) -> int:
        """Requests that succeeded plus requests that failed."""
        return len(self.latencies) + sum(self.errors.values())

    # ---- rendering ----

    def _num(self, value: float) -> str:
        return go_g(value) if self.precise else f"{value:4.4f}"

    def _secs(self, value: float) -> str:
        return f"{self._num(value)} secs"

    def text(self) -> str:
        """The report as etcd prints it (empty when nothing was measured)."""
        if self.total is None:
            self.finish()
        assert self.total is not None
        out = ""
        lats = sorted(self.latencies)
        if lats:
            n = len(lats)
            average = sum(lats) / n
            stddev = math.sqrt(sum((x - average) ** 2 for x in lats) / n)
            rps = n / self.total if self.total > 0 else math.inf
            out += "\nSummary:\n"
            out += f"  Total:\t{self._secs(self.total)}.\n"
            out += f"  Slowest:\t{self._secs(lats[-1])}.\n"
            out += f"  Fastest:\t{self._secs(lats[0])}.\n"
            out += f"  Average:\t{self._secs(average)}.\n"
            out += f"  Stddev:\t{self._secs(stddev)}.\n"
            out += f"  Requests/sec:\t{self._num(rps)}\n"
            out += self._histogram(lats)
            out += self._latency_distribution(lats)
            if self.sample:
                out += self._samples() + "\n"
        if self.errors:
            out += "\nError distribution:\n"
            for message, number in self.errors.items():
                out += f"  [{number}]\t{message}\n"
        return out

    def _histogram(self, lats: list[float]) -> str:
        fastest, slowest = lats[0], lats[-1]
        step = (slowest - fastest) / BUCKETS
        bounds = [fastest + step * i for i in range(BUCKETS)] + [slowest]
        counts = [0] * len(bounds)
        bucket = 0
        i = 0
        while i < len(lats):  # etcd's walk: a latency goes to the first bound above it
            if lats[i] <= bounds[bucket]:
                counts[bucket] += 1
                i += 1
            elif bucket < len(bounds) - 1:
                bucket += 1
        top = max(counts)
        out = "\nResponse time histogram:\n"
        for bound, count in zip(bounds, counts, strict=True):
            bar = BAR_CHAR * (count * BAR_WIDTH // top if top > 0 else 0)
            out += f"  {self._num(bound)} [{count}]\t|{bar}\n"
        return out

    def _latency_distribution(self, lats: list[float]) -> str:
        out = "\nLatency distribution:\n"
        for pctl, value in zip(PERCENTILES, percentiles(lats), strict=True):
            if value > 0:
                out += f"  {go_g(pctl)}% in {self._secs(value)}.\n"
        return out

    def _samples(self) -> str:
        if not self.seconds:
            return "\nSample in one second (unix latency throughput):\n" + _csv_header()
        first, last = min(self.seconds), max(self.seconds)
        rows = [_csv_header()]
        for second in range(first, last + 1):
            point = self.seconds.get(second, SecondPoint())
            average = point.total_ns // point.count if point.count else 0
            cells = (
                str(second),
                go_duration(point.min_ns),
                go_duration(average),
                go_duration(point.max_ns),
                str(point.count),
            )
            rows.append(",".join(cells) + "\n")
        return "\nSample in one second (unix latency throughput):\n" + "".join(rows)


def _csv_header() -> str:
    return "UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT\n"


def percentiles(sorted_lats: list[float]) -> list[float]:
    """etcd's percentiles: the first latency whose rank reaches each percentile (0 if none)."""
    found = [0.0] * len(PERCENTILES)
    j = 0
    n = len(sorted_lats)
    for i in range(n):
        if j >= len(PERCENTILES):
            break
        if i * 100.0 / n >= PERCENTILES[j]:
            found[j] = sorted_lats[i]
            j += 1
    return found
