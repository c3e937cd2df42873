"""``benchmark put``: puts of one value to keys numbered over ``--key-space-size``."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import click

from etcd3py import AsyncClient

from ..gofmt import go_duration, go_humanize_bytes
from .connections import open_clients
from .keys import check_key_size, random_bytes, varint_key
from .options import GlobalOptions, go_duration_option
from .report import Report
from .root import benchmark, run
from .workers import run_requests

__all__ = ["put"]


@benchmark.command(help="Benchmark put")
@click.option(
    "--key-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Key size of put request",
)
@click.option(
    "--val-size",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Value size of put request",
)
@click.option(
    "--rate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Maximum puts per second (0 is no limit)",
)
@click.option(
    "--total",
    type=click.IntRange(min=0),
    default=10000,
    show_default=True,
    help="Total number of put requests",
)
@click.option(
    "--key-space-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Maximum possible keys",
)
@click.option("--sequential-keys", is_flag=True, help="Use sequential keys")
@click.option(
    "--compact-interval",
    callback=go_duration_option,
    default="0",
    help="Interval to compact database (do not duplicate this with etcd's "
    "'auto-compaction-retention' flag) (e.g. --compact-interval=5m compacts "
    "every 5-minute)",
)
@click.option(
    "--compact-index-delta",
    type=int,
    default=1000,
    show_default=True,
    help="Delta between current revision and compact revision (e.g. current "
    "revision 10000, compact at 9000)",
)
@click.option("--check-hashkv", is_flag=True, help="'true' to check hashkv")
@click.pass_obj
def put(
    options: GlobalOptions,
    key_size: int,
    val_size: int,
    rate: int,
    total: int,
    key_space_size: int,
    sequential_keys: bool,
    compact_interval: float,
    compact_index_delta: int,
    check_hashkv: bool,
) -> None:
    check_key_size(key_size, key_space_size)
    value = random_bytes(val_size)

    def key_of(i: int) -> bytes:
        n = i % key_space_size if sequential_keys else random.randrange(key_space_size)
        return varint_key(n, key_size)

    async def main() -> None:
        async with open_clients(options) as clients:
            report = Report(options.precise, options.sample)

            async def request(client: AsyncClient, i: int) -> None:
                await client.put(key_of(i), value)

            compactor = None
            if compact_interval > 0:
                compactor = asyncio.ensure_future(
                    _compact_every(clients[0], compact_interval, compact_index_delta)
                )
            try:
                await run_requests(clients, total, request, report, rate=rate)
            finally:
                if compactor is not None:
                    compactor.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await compactor
            click.echo(report.text())
            if check_hashkv:
                click.echo(await _hashkv_summary(clients[0], options.endpoints[0]))

    run(main())


async def _compact_every(client: AsyncClient, interval: float, delta: int) -> None:
    """Compact to ``delta`` revisions behind the current one, every ``interval``."""
    while True:
        await asyncio.sleep(interval)
        revision = (await client.get("foo")).header.revision
        await client.compact(max(0, revision - delta))


async def _hashkv_summary(client: AsyncClient, endpoint: str) -> str:
    """etcd's "HashKV Summary" of the first endpoint (its hash asked twice, as etcd does)."""
    endpoint = endpoint.strip()
    started = time.perf_counter()
    await client.hash_kv(0, endpoint=endpoint)
    hashed = await client.hash_kv(0, endpoint=endpoint)  # an int
    status = await client.status(endpoint)
    took = round((time.perf_counter() - started) * 1e9)
    return (
        "HashKV Summary:\n"
        f"\tHashKV: {hashed}\n"
        f"\tEndpoint: {endpoint}\n"
        f"\tTime taken to get hashkv: {go_duration(took)}\n"
        f"\tDB size: {go_humanize_bytes(status.db_size)}"
    )
