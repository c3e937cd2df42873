"""The ``benchmark`` group: etcd's persistent flags, shared by every command."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import click

from .options import GlobalOptions, go_duration_option

__all__ = ["benchmark", "run"]


@click.group(
    help="A low-level benchmark tool for etcd3, on etcd3py's AsyncClient "
    "(the commands and flags of etcd 3.5's benchmark tool).",
    short_help="etcd's benchmark tool (etcd3py benchmark --help)",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--endpoints",
    default="127.0.0.1:2379",
    show_default=True,
    help="gRPC endpoints (comma-separated)",
)
@click.option(
    "--conns",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Total number of gRPC connections",
)
@click.option(
    "--clients",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Total number of gRPC clients",
)
@click.option("--precise", is_flag=True, help="use full floating point precision")
@click.option("--sample", is_flag=True, help="'true' to sample requests for every second")
@click.option(
    "--dial-timeout",
    callback=go_duration_option,
    default="0",
    help="dial timeout for client connections (0: 5s to check each connection)",
)
@click.option(
    "--user",
    default=None,
    help="provide username[:password] and prompt if password is not supplied.",
)
@click.option(
    "--cacert",
    default=None,
    help="verify certificates of HTTPS-enabled servers using this CA bundle",
)
@click.option("--cert", default=None, help="identify HTTPS client using this SSL certificate file")
@click.option("--key", default=None, help="identify HTTPS client using this SSL key file")
@click.option("--target-leader", is_flag=True, help="connect only to the leader node")
@click.option(
    "--auto-sync-interval",
    callback=go_duration_option,
    default="0",
    help="AutoSyncInterval is the interval to update endpoints with its latest members",
)
@click.pass_context
def benchmark(
    ctx: click.Context,
    endpoints: str,
    conns: int,
    clients: int,
    precise: bool,
    sample: bool,
    dial_timeout: float,
    user: str | None,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    target_leader: bool,
    auto_sync_interval: float,
) -> None:
    listed = tuple(e.strip() for e in endpoints.split(",") if e.strip())
    if not listed:
        raise click.BadParameter("at least one endpoint is needed", param_hint="'--endpoints'")
    ctx.obj = GlobalOptions(
        endpoints=listed,
        conns=conns,
        clients=clients,
        precise=precise,
        sample=sample,
        dial_timeout=dial_timeout,
        user=user,
        cacert=cacert,
        cert=cert,
        key=key,
        target_leader=target_leader,
        auto_sync_interval=auto_sync_interval,
    )


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a command's coroutine on a fresh event loop."""
    asyncio.run(main)
