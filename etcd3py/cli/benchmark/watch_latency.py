"""``benchmark watch-latency``: from a put's answer to each watcher's event of it."""

from __future__ import annotations

import time

import anyio
import click

from etcd3py import AsyncWatch

from .connections import connect, credentials, open_clients
from .keys import random_bytes
from .options import GlobalOptions
from .progress import Progress
from .report import Report
from .root import benchmark, run
from .workers import RateLimiter

__all__ = ["watch_latency"]


@benchmark.command(
    "watch-latency",
    help="Benchmark watch latency: the latency between writing to a key and receiving "
    "the associated watch response.",
)
@click.option(
    "--total",
    type=click.IntRange(min=0),
    default=10000,
    show_default=True,
    help="Total number of put requests",
)
@click.option(
    "--put-rate",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Number of keys to put per second",
)
@click.option(
    "--key-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Key size of watch response",
)
@click.option(
    "--val-size",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    help="Value size of watch response",
)
@click.pass_obj
def watch_latency(
    options: GlobalOptions, total: int, put_rate: int, key_size: int, val_size: int
) -> None:
    key, value = random_bytes(key_size), random_bytes(val_size)

    async def main() -> None:
        login = credentials(options)
        async with open_clients(options, login=login) as clients:
            putter = await connect(options, [options.endpoints[0]], login)
            watches = [client.watch(key) for client in clients]
            try:
                for w in watches:
                    await w.start()
                report = Report(options.precise, options.sample)
                limiter = RateLimiter(put_rate, max(put_rate, 1))
                with Progress(total) as bar:
                    report.start()
                    for _ in range(total):
                        await limiter.wait()
                        await putter.put(key, value)
                        start = time.perf_counter()
                        async with anyio.create_task_group() as group:
                            for w in watches:
                                group.start_soon(_next_event, w, report, start)
                        bar.step()
                    report.finish()
                click.echo(report.text(), nl=False)
            finally:
                for w in watches:
                    await w.cancel()
                await putter.close()

    run(main())


async def _next_event(w: AsyncWatch, report: Report, start: float) -> None:
    """Wait for ``w``'s next response (the put's event) and record when it came."""
    response = await w.__anext__()
    report.add(start, time.perf_counter())
    del response
