"""Durations of the member's disk syncs, for ``/metrics``: etcd's
``etcd_disk_wal_fsync_duration_seconds`` and ``etcd_disk_backend_commit_duration_seconds``.

Process-wide, as etcd's (one etcd process is one member; the members of an
EmbeddedCluster share these, as they share the process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# etcd's buckets for both: prometheus.ExponentialBuckets(0.001, 2, 14), 1 ms to 8.192 s
DISK_BUCKETS = tuple(0.001 * 2**i for i in range(14))


class DurationHistogram:
    """Counts of observed durations by bucket (cumulative when read), their sum and
    count; observed from the log's thread, read from the event loop."""

    def __init__(self, buckets: tuple[float, ...] = DISK_BUCKETS) -> None:
        self.buckets = buckets
        self._counts = [0] * (len(buckets) + 1)  # the last: above every bound
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        slot = next((i for i, bound in enumerate(self.buckets) if seconds <= bound), -1)
        with self._lock:
            self._counts[slot] += 1
            self._sum += seconds

    @contextmanager
    def timing(self, clock: Callable[[], float] = time.perf_counter) -> Iterator[None]:
        start = clock()
        try:
            yield
        finally:
            self.observe(clock() - start)

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative ``(le, count)`` pairs ending with ``+Inf``, and the sum."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, count in zip((*map(repr, self.buckets), "+Inf"), counts, strict=True):
            running += count
            cumulative.append((bound, float(running)))
        return cumulative, total


WAL_FSYNC = DurationHistogram()
BACKEND_COMMIT = DurationHistogram()
