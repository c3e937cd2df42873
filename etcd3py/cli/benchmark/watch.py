"""``benchmark watch``: watch creation, then events delivered to many watchers.

``--streams`` watch streams each create ``--watch-per-stream`` watches on the
``--watched-key-total`` keys (round robin); then ``--put-total`` puts to those keys,
from ``--clients`` over ``--conns``, and every event each watcher receives is counted.
etcd3py multiplexes a client's watches on one stream, so each stream here is an
AsyncClient (a connection) of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import anyio
import click

from etcd3py import AsyncClient, AsyncWatch

from .connections import connect, credentials, open_clients
from .keys import check_key_size, varint_key
from .options import GlobalOptions
from .progress import Progress
from .report import Report
from .root import benchmark, run
from .workers import RateLimiter

__all__ = ["watch"]


@benchmark.command(help="Benchmark watch")
@click.option(
    "--streams",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Total watch streams",
)
@click.option(
    "--watch-per-stream",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Total watchers per stream",
)
@click.option(
    "--watched-key-total",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Total number of keys to be watched",
)
@click.option(
    "--put-rate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Number of keys to put per second (0 is no limit)",
)
@click.option(
    "--put-total",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Number of put requests",
)
@click.option(
    "--key-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Key size of watch request",
)
@click.option(
    "--key-space-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Maximum possible keys",
)
@click.option("--sequential-keys", is_flag=True, help="Use sequential keys")
@click.pass_obj
def watch(
    options: GlobalOptions,
    streams: int,
    watch_per_stream: int,
    watched_key_total: int,
    put_rate: int,
    put_total: int,
    key_size: int,
    key_space_size: int,
    sequential_keys: bool,
) -> None:
    check_key_size(key_size, key_space_size)
    watched = [
        varint_key(
            i % key_space_size if sequential_keys else random.randrange(key_space_size), key_size
        )
        for i in range(watched_key_total)
    ]
    assignments = [watched[i % len(watched)] for i in range(streams * watch_per_stream)]
    watchers_of: dict[bytes, int] = {}
    for key in assignments:
        watchers_of[key] = watchers_of.get(key, 0) + 1
    events_total = sum(watchers_of[watched[i % len(watched)]] for i in range(put_total))

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            login = credentials(options)
            stream_clients = []
            for i in range(streams):
                endpoint = options.endpoints[i % len(options.endpoints)]
                client = await connect(options, [endpoint], login)
                stack.push_async_callback(client.close)
                stream_clients.append(client)
            watches = await _make_watches(options, stream_clients, assignments, watch_per_stream)
            for w in watches:
                stack.push_async_callback(w.cancel)
            clients = await stack.enter_async_context(open_clients(options, login=login))
            await _put_and_receive(
                options, clients, watches, watched, put_total, put_rate, events_total
            )

    run(main())


async def _make_watches(
    options: GlobalOptions, streams: list[AsyncClient], keys: list[bytes], per_stream: int
) -> list[AsyncWatch]:
    report = Report(options.precise, options.sample)
    made: list[AsyncWatch] = []
    pending = iter(keys)

    async def create(client: AsyncClient, bar: Progress) -> None:
        for _ in range(per_stream):
            key = next(pending)
            start = time.perf_counter()
            w = client.watch(key)
            made.append(w)
            await w.start()
            report.add(start, time.perf_counter())
            bar.step()

    with Progress(len(keys)) as bar:
        report.start()
        async with anyio.create_task_group() as group:
            for client in streams:
                group.start_soon(create, client, bar)
        report.finish()
    click.echo(f"Watch creation summary:\n{report.text()}", nl=False)
    return made


async def _put_and_receive(
    options: GlobalOptions,
    clients: list[AsyncClient],
    watches: list[AsyncWatch],
    watched: list[bytes],
    put_total: int,
    put_rate: int,
    events_total: int,
) -> None:
    report = Report(options.precise, options.sample)
    remaining = [events_total]
    all_received = asyncio.Event()
    if events_total == 0:
        all_received.set()

    async def receive(w: AsyncWatch, bar: Progress) -> None:
        while not all_received.is_set():
            response = await w.get(timeout=0.2)
            if response is None:
                continue
            start = time.perf_counter()
            for _ in response.events:
                report.add(start, time.perf_counter())
                bar.step()
                remaining[0] -= 1
                if remaining[0] <= 0:
                    all_received.set()

    numbers = iter(range(put_total))
    limiter = RateLimiter(put_rate)

    async def put(client: AsyncClient) -> None:
        for i in numbers:
            await limiter.wait()
            await client.put(watched[i % len(watched)], "data")

    with Progress(events_total) as bar:
        report.start()
        async with anyio.create_task_group() as group:
            for w in watches:
                group.start_soon(receive, w, bar)
            for client in clients:
                group.start_soon(put, client)
        report.finish()
    click.echo(f"Watch events received summary:\n{report.text()}", nl=False)
