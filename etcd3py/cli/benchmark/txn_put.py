"""``benchmark txn-put``: transactions of ``--txn-ops`` puts each."""

from __future__ import annotations

import click

from etcd3py import AsyncClient, Put

from .connections import open_clients
from .keys import check_key_size, random_bytes, varint_key
from .options import GlobalOptions
from .report import Report
from .root import benchmark, run
from .workers import run_requests

__all__ = ["txn_put"]


@benchmark.command("txn-put", help="Benchmark txn-put")
@click.option(
    "--key-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Key size of txn put",
)
@click.option(
    "--val-size",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Value size of txn put",
)
@click.option(
    "--txn-ops",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Number of puts per txn",
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
    "--key-space-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Maximum possible keys",
)
@click.pass_obj
def txn_put(
    options: GlobalOptions,
    key_size: int,
    val_size: int,
    txn_ops: int,
    rate: int,
    total: int,
    key_space_size: int,
) -> None:
    if txn_ops > key_space_size:
        raise click.BadParameter(
            f"expected --txn-ops no larger than --key-space-size, "
            f"got txn-ops({txn_ops}) key-space-size({key_space_size})",
            param_hint="'--txn-ops'",
        )
    check_key_size(key_size, key_space_size)
    value = random_bytes(val_size)

    async def main() -> None:
        async with open_clients(options) as clients:
            report = Report(options.precise, options.sample)

            async def request(client: AsyncClient, i: int) -> None:
                keys = (
                    varint_key((i * txn_ops + j) % key_space_size, key_size) for j in range(txn_ops)
                )
                await client.txn(success=[Put(key, value) for key in keys])

            await run_requests(clients, total, request, report, rate=rate)
            click.echo(report.text())

    run(main())
