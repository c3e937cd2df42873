"""``benchmark lease-keepalive``: one keep-alive at a time per client, of its own lease."""

from __future__ import annotations

import click

from etcd3py import AsyncLease

from .connections import open_clients
from .options import GlobalOptions
from .report import Report
from .root import benchmark, run
from .workers import run_requests

__all__ = ["lease_keepalive"]

LEASE_TTL = 100  # seconds, as etcd's tool grants


@benchmark.command("lease-keepalive", help="Benchmark lease keepalive")
@click.option(
    "--total",
    type=click.IntRange(min=0),
    default=10000,
    show_default=True,
    help="Total number of lease keepalive requests",
)
@click.pass_obj
def lease_keepalive(options: GlobalOptions, total: int) -> None:
    async def main() -> None:
        async with open_clients(options) as clients:
            leases = [await client.grant(LEASE_TTL) for client in clients]
            report = Report(options.precise, options.sample)

            async def request(lease: AsyncLease, i: int) -> None:
                await lease.refresh()

            try:
                await run_requests(leases, total, request, report)
            finally:
                for lease in leases:
                    await lease.revoke()
            click.echo(report.text(), nl=False)

    run(main())
