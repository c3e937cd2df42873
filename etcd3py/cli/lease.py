"""``lease grant | revoke | timetolive | list | keep-alive``: etcd's leases.

The public client returns no response header for grant, revoke and list; etcdctl prints
one in the fields, json and protobuf formats, so for those the header of a linearizable
read made just after is printed (``header_now``): the same cluster, member and raft term,
and the same revision unless another client wrote in between.
"""

from __future__ import annotations

import time

import click

import etcd3py

from .app import Config, EtcdCommand, EtcdGroup, pass_config, root
from .errors import (
    EXIT_BAD_ARGS,
    EXIT_BAD_CONNECTION,
    EXIT_ERROR,
    CliError,
    error_text,
)
from .flags import BOOL, flag
from .output import stream
from .output.responses import (
    EmptyHeader,
    HeaderLike,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseList,
    LeaseRevoke,
)
from .output.simple import SimplePrinter


@root.group("lease", cls=EtcdGroup, use="lease <subcommand>", help="Lease related commands")
def lease_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


def header_now(config: Config, client: etcd3py.Client) -> HeaderLike:
    """A current header, for the formats that print one (see the module's docstring)."""
    if isinstance(config.printer(), SimplePrinter):
        return EmptyHeader()  # not printed: spare the read
    return client.get(b"\x00", count_only=True).header


def lease_id_arg(text: str) -> int:
    """etcdctl's leaseFromArgs: hex, int64."""
    digits = text[1:] if text[:1] in "+-" else text
    reason = None
    if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
        reason = "invalid syntax"
    elif not -(1 << 63) <= int(text, 16) < 1 << 63:
        reason = "value out of range"
    if reason:
        raise CliError(
            EXIT_BAD_ARGS,
            f'bad lease ID arg (strconv.ParseInt: parsing "{text}": {reason}), expecting ID in Hex',
        )
    return int(text, 16)


@lease_group.command("grant", cls=EtcdCommand, use="grant <ttl>", help="Creates leases")
@click.argument("args", nargs=-1)
@pass_config
def grant_command(config: Config, args: tuple[str, ...]) -> None:
    from .kv import parse_int

    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "lease grant command needs TTL argument")
    try:
        ttl = parse_int(args[0], EXIT_BAD_ARGS)
    except CliError as error:
        raise CliError(EXIT_BAD_ARGS, f"bad TTL ({error.message})") from None
    with config.client() as client:
        try:
            lease = client.grant(ttl)
        except etcd3py.AuthFailedError:
            raise  # etcdctl fails to make its client first: exit 2 (app.run)
        except etcd3py.EtcdError as error:
            raise CliError(EXIT_ERROR, f"failed to grant lease ({error_text(error)})") from None
        header = header_now(config, client)
    config.printer().grant(LeaseGrant(lease.id, lease.ttl, header))


@lease_group.command("revoke", cls=EtcdCommand, use="revoke <leaseID>", help="Revokes leases")
@click.argument("args", nargs=-1)
@pass_config
def revoke_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "lease revoke command needs 1 argument")
    lease_id = lease_id_arg(args[0])
    with config.client() as client:
        try:
            client.revoke(lease_id)
        except etcd3py.AuthFailedError:
            raise
        except etcd3py.EtcdError as error:
            raise CliError(EXIT_ERROR, f"failed to revoke lease ({error_text(error)})") from None
        header = header_now(config, client)
    config.printer().revoke(LeaseRevoke(lease_id, header))


@lease_group.command(
    "timetolive",
    cls=EtcdCommand,
    use="timetolive <leaseID> [options]",
    help="Get lease information",
)
@click.argument("args", nargs=-1)
@flag("--keys", type=BOOL, default=False, usage="Get keys attached to this lease")
@pass_config
def timetolive_command(config: Config, args: tuple[str, ...], keys: bool) -> None:
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "lease timetolive command needs lease ID as argument")
    lease_id = lease_id_arg(args[0])
    with config.client() as client:
        try:
            info = client.time_to_live(lease_id, keys=keys)
        except etcd3py.EtcdError as error:
            raise CliError(EXIT_BAD_CONNECTION, error_text(error)) from None
    config.printer().time_to_live(info, keys)


@lease_group.command("list", cls=EtcdCommand, use="list", help="List all active leases")
@click.argument("args", nargs=-1)
@pass_config
def list_command(config: Config, args: tuple[str, ...]) -> None:
    with config.client() as client:
        try:
            ids = client.leases()
        except etcd3py.EtcdError as error:
            raise CliError(EXIT_BAD_CONNECTION, error_text(error)) from None
        header = header_now(config, client)
    config.printer().leases(LeaseList(ids, header))


@lease_group.command(
    "keep-alive",
    cls=EtcdCommand,
    use="keep-alive [options] <leaseID>",
    help="Keeps leases alive (renew)",
)
@click.argument("args", nargs=-1)
@flag(
    "--once",
    type=BOOL,
    default=False,
    usage="Resets the keep-alive time to its original value and cobrautl.Exits immediately",
)
@pass_config
def keep_alive_command(config: Config, args: tuple[str, ...], once: bool) -> None:
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "lease keep-alive command needs lease ID as argument")
    lease_id = lease_id_arg(args[0])
    printer = config.printer()
    with config.client() as client:
        try:
            lease = client.existing_lease(lease_id)
        except etcd3py.LeaseNotFoundError as error:
            if once:  # etcdctl's KeepAliveOnce fails: a bad connection, by its code
                raise CliError(EXIT_BAD_CONNECTION, error_text(error)) from None
            lease = None  # etcdctl's KeepAlive channel just closes
        while lease is not None:
            try:
                ttl = lease.refresh()
            except etcd3py.LeaseLostError:
                if once:
                    message = "etcdserver: requested lease not found"
                    raise CliError(EXIT_BAD_CONNECTION, message) from None
                break
            printer.keep_alive(LeaseKeepAlive(lease_id, ttl, header_now(config, client)))
            if once:
                return
            time.sleep(max(ttl / 3, 0.5))  # Go's client renews every TTL/3; Ctrl-C ends it
    if isinstance(printer, SimplePrinter):
        stream.line(b"lease %016x expired or revoked." % (lease_id & (1 << 64) - 1))
