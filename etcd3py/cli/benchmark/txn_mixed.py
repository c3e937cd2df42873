"""``benchmark txn-mixed``: transactions of one read or one put, mixed by ``--rw-ratio``.

(etcd 3.6's command.) Each read is a range over every key, up to ``--limit``; each
write puts key ``i mod --key-space-size``. Reads and writes get a report each.
"""

from __future__ import annotations

import random

import click

from etcd3py import AsyncClient, Get, Put

from .connections import open_clients
from .keys import check_key_size, random_bytes, varint_key
from .options import CONSISTENCY, GlobalOptions
from .report import Report
from .root import benchmark, run
from .workers import run_requests

__all__ = ["txn_mixed"]


@benchmark.command("txn-mixed", help="Benchmark a mixed load of txn-put & txn-range.")
@click.argument("key", required=False)
@click.argument("end", required=False)
@click.option(
    "--key-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Key size of mixed txn",
)
@click.option(
    "--val-size",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Value size of mixed txn",
)
@click.option(
    "--rate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Maximum txns per second (0 is no limit)",
)
@click.option(
    "--total",
    type=click.IntRange(min=0),
    default=10000,
    show_default=True,
    help="Total number of txn requests",
)
@click.option(
    "--end-key",
    default="",
    help="Read operation range end key (unused: as in "
    "etcd, a read ranges over every key, up to --limit).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Read operation range result limit",
)
@click.option(
    "--key-space-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Maximum possible keys",
)
@click.option(
    "--consistency",
    type=CONSISTENCY,
    default="l",
    show_default=True,
    help="Linearizable(l) or Serializable(s)",
)
@click.option(
    "--rw-ratio",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Read/write ops ratio",
)
@click.pass_obj
def txn_mixed(
    options: GlobalOptions,
    key: str | None,
    end: str | None,
    key_size: int,
    val_size: int,
    rate: int,
    total: int,
    end_key: str,
    limit: int,
    key_space_size: int,
    consistency: str,
    rw_ratio: float,
) -> None:
    check_key_size(key_size, key_space_size)
    serializable = consistency == "s"
    click.echo(f"bench with {'serializable' if serializable else 'linearizable'} range")
    value = random_bytes(val_size)
    read_share = rw_ratio / (1 + rw_ratio)
    is_read = [random.random() < read_share for _ in range(total)]

    async def main() -> None:
        async with open_clients(options) as clients:
            reads = Report(options.precise, options.sample)
            writes = Report(options.precise, options.sample)

            async def request(client: AsyncClient, i: int) -> None:
                if is_read[i]:
                    op = Get("", prefix=True, limit=limit, serializable=serializable)
                    await client.txn(success=[op])
                else:
                    await client.txn(success=[Put(varint_key(i % key_space_size, key_size), value)])

            def record(i: int, start: float, end: float, error: BaseException | None) -> None:
                (reads if is_read[i] else writes).add(start, end, error)

            writes.start()
            await run_requests(clients, total, request, reads, rate=rate, record=record)
            writes.finish()
            click.echo(f"Total Read Ops: {sum(is_read)}\nDetails:", nl=False)
            click.echo(reads.text())
            click.echo(f"Total Write Ops: {total - sum(is_read)}\nDetails:", nl=False)
            click.echo(writes.text())

    run(main())
