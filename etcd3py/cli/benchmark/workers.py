"""Concurrent request workers, a rate limiter, and how a command's run is driven.

Workers are asyncio tasks over AsyncClient connections: measured on this project's
benchmarks, grpc.aio carries 64 concurrent puts at about half the client CPU per
request of 64 threads on the sync stubs (docs/performance.md), and a benchmark is
mostly about many requests in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import anyio

from .progress import Progress
from .report import Report

__all__ = ["RateLimiter", "run_requests"]

C = TypeVar("C")


class RateLimiter:
    """Go's ``rate.NewLimiter(rate, burst)`` as ``Wait`` uses it: a token bucket.

    ``rate`` 0 means no limit (etcd turns its flags' 0 into the largest int32).
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = time.monotonic()

    async def wait(self) -> None:
        if self._interval == 0.0:
            return
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) / self._interval)
        self._last = now
        self._tokens -= 1.0
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens * self._interval)


async def run_requests(
    clients: Sequence[C],
    total: int,
    request: Callable[[C, int], Awaitable[object]],
    report: Report,
    *,
    rate: float = 0,
    record: Callable[[int, float, float, BaseException | None], None] | None = None,
) -> None:
    """Send ``total`` requests, numbered 0..total-1, from one worker per client.

    ``request(client, i)`` sends request i; its time and error go to ``report``, or
    to ``record(i, start, end, error)`` when given. A failed request is counted and the
    run goes on, as in etcd's tool.
    """
    numbers = iter(range(total))
    limiter = RateLimiter(rate)

    async def worker(client: C, bar: Progress) -> None:
        for i in numbers:  # shared: each number is taken by one worker
            await limiter.wait()
            start = time.perf_counter()
            error: BaseException | None = None
            try:
                await request(client, i)
            except Exception as failed:
                error = failed
            end = time.perf_counter()
            if record is None:
                report.add(start, end, error)
            else:
                record(i, start, end, error)
            bar.step()

    with Progress(total) as bar:
        report.start()
        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(worker, client, bar)
        report.finish()
