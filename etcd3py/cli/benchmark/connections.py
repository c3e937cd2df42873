"""The ``--conns`` connections and the ``--clients`` that share them, as etcd's tool does.

Each connection is an AsyncClient of its own (its own gRPC channel); connection i
dials endpoint i modulo the endpoints, and client i uses connection i modulo
``--conns``. With ``--target-leader`` every connection dials the leader's client URLs.
Each connection is checked with one Status call before the run, so an unreachable
endpoint ends the command with an error instead of a run of failed requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import click

from etcd3py import AsyncClient

from .options import GlobalOptions, split_user

__all__ = ["CONNECT_TIMEOUT", "connect", "credentials", "open_clients"]

# how long the check of a connection waits when --dial-timeout is 0 (etcd: no limit)
CONNECT_TIMEOUT = 5.0


def credentials(options: GlobalOptions) -> tuple[str | None, str | None]:
    """``--user`` as (name, password), asking for the password when it is not given."""
    if not options.user:
        return None, None
    name, password = split_user(options.user)
    if password is None:
        password = click.prompt("Password", hide_input=True, err=True)
    return name, password


async def connect(
    options: GlobalOptions, endpoints: list[str], login: tuple[str | None, str | None]
) -> AsyncClient:
    """One connection to ``endpoints``, checked with a Status call."""
    username, password = login
    client = AsyncClient(
        endpoints,
        username=username,
        password=password,
        ca_cert=options.cacert,
        cert_cert=options.cert,
        cert_key=options.key,
        auto_sync_interval=options.auto_sync_interval or None,
    )
    try:
        await client.status(timeout=options.dial_timeout or CONNECT_TIMEOUT)
    except Exception as error:
        await client.close()
        raise click.ClickException(f"dial error: {', '.join(endpoints)}: {error}") from error
    return client


async def _leader_endpoints(
    options: GlobalOptions, login: tuple[str | None, str | None]
) -> list[str]:
    client = await connect(options, list(options.endpoints), login)
    try:
        members = await client.member_list()
        leader = 0
        for endpoint in options.endpoints:
            with contextlib.suppress(Exception):
                leader = (await client.status(endpoint)).leader
                break
        for member in members:
            if member.id == leader and member.client_urls:
                return list(member.client_urls)
    finally:
        await client.close()
    raise click.ClickException("failed to find a leader endpoint")


@contextlib.asynccontextmanager
async def open_clients(
    options: GlobalOptions,
    clients: int | None = None,
    conns: int | None = None,
    login: tuple[str | None, str | None] | None = None,
) -> AsyncIterator[list[AsyncClient]]:
    """``clients`` handles (default ``--clients``) over ``conns`` connections (``--conns``)."""
    clients = options.clients if clients is None else clients
    conns = options.conns if conns is None else conns
    login = credentials(options) if login is None else login
    leader = await _leader_endpoints(options, login) if options.target_leader else None
    opened: list[AsyncClient] = []
    try:
        for i in range(conns):
            endpoints = leader or [options.endpoints[i % len(options.endpoints)]]
            opened.append(await connect(options, endpoints, login))
        yield [opened[i % conns] for i in range(clients)]
    finally:
        for client in opened:
            await client.close()
