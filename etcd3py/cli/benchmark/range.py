"""``benchmark range KEY [END]``: the same range request ``--total`` times."""

from __future__ import annotations

import click

from etcd3py import AsyncClient

from .connections import open_clients
from .options import CONSISTENCY, GlobalOptions
from .report import Report
from .root import benchmark, run
from .workers import run_requests

__all__ = ["range_command"]


@benchmark.command("range", help="Benchmark range")
@click.argument("key")
@click.argument("end", required=False, default="")
@click.option(
    "--rate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Maximum range requests per second (0 is no limit)",
)
@click.option(
    "--total",
    type=click.IntRange(min=0),
    default=10000,
    show_default=True,
    help="Total number of range requests",
)
@click.option(
    "--consistency",
    type=CONSISTENCY,
    default="l",
    show_default=True,
    help="Linearizable(l) or Serializable(s)",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Maximum number of results to return from range request (0 is no limit)",
)
@click.option("--count-only", is_flag=True, help="Only returns the count of keys")
@click.pass_obj
def range_command(
    options: GlobalOptions,
    key: str,
    end: str,
    rate: int,
    total: int,
    consistency: str,
    limit: int,
    count_only: bool,
) -> None:
    serializable = consistency == "s"
    kind = "serializable" if serializable else "linearizable"
    click.echo(f"bench with {kind} range")

    async def main() -> None:
        async with open_clients(options) as clients:
            report = Report(options.precise, options.sample)

            async def request(client: AsyncClient, i: int) -> None:
                await client.get(
                    key,
                    range_end=end or None,
                    serializable=serializable,
                    limit=limit,
                    count_only=count_only,
                )

            await run_requests(clients, total, request, report, rate=rate)
            click.echo(report.text(), nl=False)

    run(main())
