"""``benchmark watch-get``: serializable gets while many watchers catch up on history.

``--watchers`` watches (over ``--streams`` streams, each an AsyncClient of its own)
start at a revision ``--events`` puts back, so the server sends them history while a
separate client keeps reading; the report is of those reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import anyio
import click

from etcd3py import AsyncClient

from .connections import connect, credentials, open_clients
from .options import GlobalOptions
from .progress import Progress
from .report import Report
from .root import benchmark, run

__all__ = ["watch_get"]

WATCH_KEY = "watchkey"


@benchmark.command(
    "watch-get", help="Benchmark for serialized key gets with many unsynced watchers"
)
@click.option(
    "--watchers",
    type=click.IntRange(min=1),
    default=10000,
    show_default=True,
    help="Total number of watchers",
)
@click.option(
    "--streams",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Total number of watcher streams",
)
@click.option(
    "--events",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Number of events per watcher",
)
@click.pass_obj
def watch_get(options: GlobalOptions, watchers: int, streams: int, events: int) -> None:
    async def main() -> None:
        login = credentials(options)
        async with contextlib.AsyncExitStack() as stack:
            clients = await stack.enter_async_context(open_clients(options, login=login))
            getter = await connect(options, [options.endpoints[0]], login)
            stack.push_async_callback(getter.close)
            first = 0
            for i in range(events):
                revision = (await clients[0].put(WATCH_KEY, str(i))).header.revision
                first = first or revision
            stream_clients: list[AsyncClient] = []
            for i in range(streams):
                client = await connect(
                    options, [options.endpoints[i % len(options.endpoints)]], login
                )
                stack.push_async_callback(client.close)
                stream_clients.append(client)
            report = Report(options.precise, options.sample)
            stop = asyncio.Event()

            async def read() -> None:
                while not stop.is_set():
                    start = time.perf_counter()
                    error: BaseException | None = None
                    try:
                        await getter.get("abc", serializable=True)
                    except Exception as failed:
                        error = failed
                    report.add(start, time.perf_counter(), error)

            async def catch_up(client: AsyncClient, bar: Progress) -> None:
                async with client.watch(WATCH_KEY, start_revision=first) as w:
                    seen = 0
                    async for response in w:
                        seen += len(response.events)
                        bar.step(len(response.events))
                        if seen >= events:
                            return

            with Progress(watchers * events) as bar:
                report.start()
                reader = asyncio.ensure_future(read())
                async with anyio.create_task_group() as group:
                    for i in range(watchers):
                        group.start_soon(catch_up, stream_clients[i % streams], bar)
                stop.set()
                await reader
                report.finish()
            click.echo(f"Get during watch summary:\n{report.text()}", nl=False)

    run(main())
