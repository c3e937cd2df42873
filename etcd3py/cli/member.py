"""``member list | add | remove | update | promote``: the cluster's membership.

The public client returns the members without etcd's response header; the formats that
print one get the header of a read made just after (the cluster server's header carries
no revision, so neither does this one), and add/remove/update/promote print the member
list read after the change, as etcd's responses carry it.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

import etcd3py

from .app import Config, EtcdCommand, EtcdGroup, pass_config, root
from .errors import EXIT_BAD_ARGS, CliError
from .flags import BOOL, STRING, flag
from .output.cluster import MemberChange, MemberList
from .output.responses import EmptyHeader, HeaderLike
from .output.simple import SimplePrinter
from .output.stream import line
from .output.text import go_quote


@root.group("member", cls=EtcdGroup, use="member <subcommand>", help="Membership related commands")
def member_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


@dataclass(frozen=True)
class ClusterHeader:
    """A header as etcd's cluster service writes it: no revision."""

    cluster_id: int
    member_id: int
    raft_term: int
    revision: int = 0


def cluster_header(client: etcd3py.Client) -> HeaderLike:
    """The header etcd would have sent (see the module's docstring)."""
    header = client.get(b"\x00", count_only=True).header
    return ClusterHeader(header.cluster_id, header.member_id, header.raft_term)


def member_id_arg(args: tuple[str, ...]) -> int:
    """etcdctl's member ID argument: one, hex, uint64."""
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "member ID is not provided")
    text = args[0]
    digits = text[1:] if text[:1] == "+" else text
    reason = None
    if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
        reason = "invalid syntax"
    elif int(digits, 16) >= 1 << 64:
        reason = "value out of range"
    if reason:
        raise CliError(
            EXIT_BAD_ARGS,
            f'bad member ID arg (strconv.ParseUint: parsing "{text}": {reason}), expecting ID'
            " in Hex",
        )
    return int(digits, 16)


@member_group.command(
    "list",
    cls=EtcdCommand,
    use="list",
    help="Lists all members in the cluster",
    long="When --write-out is set to simple, this command prints out comma-separated member"
    " lists for each endpoint.\nThe items in the lists are ID, Status, Name, Peer Addrs, Client"
    " Addrs, Is Learner.\n",
)
@click.argument("args", nargs=-1)
@pass_config
def list_command(config: Config, args: tuple[str, ...]) -> None:
    with config.client() as client:
        members = client.member_list()
        header = (
            EmptyHeader() if isinstance(config.printer(), SimplePrinter) else cluster_header(client)
        )
    config.printer().member_list(MemberList(members, header))


def change(
    config: Config, client: etcd3py.Client, verb: str, member_id: int, added: etcd3py.Member | None
) -> MemberChange:
    """What etcd answers a membership change with: the header and the members after it."""
    header = cluster_header(client)
    members = [] if isinstance(config.printer(), SimplePrinter) else client.member_list()
    return MemberChange(verb, member_id, members, header, added)


@member_group.command(
    "add", cls=EtcdCommand, use="add <memberName> [options]", help="Adds a member into the cluster"
)
@click.argument("args", nargs=-1)
@flag("--peer-urls", type=STRING, default="", usage="comma separated peer URLs for the new member.")
@flag("--learner", type=BOOL, default=False, usage="indicates if the new member is raft learner")
@pass_config
def add_command(config: Config, args: tuple[str, ...], peer_urls: str, learner: bool) -> None:
    if not args:
        raise CliError(EXIT_BAD_ARGS, "member name not provided")
    if len(args) > 1:
        message = "too many arguments"
        for arg in args:
            if arg.lower().startswith("http"):
                message += f", did you mean --peer-urls={arg}"
        raise CliError(EXIT_BAD_ARGS, message)
    name = args[0]
    if not peer_urls:
        raise CliError(EXIT_BAD_ARGS, "member peer urls not provided")
    with config.client() as client:
        added = client.member_add(peer_urls.split(","), learner=learner)
        header = cluster_header(client)
        members = client.member_list()
    printer = config.printer()
    printer.member_change(MemberChange("added to", added.id, members, header, added))
    if isinstance(printer, SimplePrinter):
        conf = [
            f"{name if m.id == added.id else m.name}={url}" for m in members for url in m.peer_urls
        ]
        line()
        line(f"ETCD_NAME={go_quote(name.encode())}")
        line(f"ETCD_INITIAL_CLUSTER={go_quote(','.join(conf).encode())}")
        line(f"ETCD_INITIAL_ADVERTISE_PEER_URLS={go_quote(peer_urls.encode())}")
        line('ETCD_INITIAL_CLUSTER_STATE="existing"')


@member_group.command(
    "remove", cls=EtcdCommand, use="remove <memberID>", help="Removes a member from the cluster"
)
@click.argument("args", nargs=-1)
@pass_config
def remove_command(config: Config, args: tuple[str, ...]) -> None:
    member_id = member_id_arg(args)
    with config.client() as client:
        client.member_remove(member_id)
        result = change(config, client, "removed from", member_id, None)
    config.printer().member_change(result)


@member_group.command(
    "update",
    cls=EtcdCommand,
    use="update <memberID> [options]",
    help="Updates a member in the cluster",
)
@click.argument("args", nargs=-1)
@flag(
    "--peer-urls",
    type=STRING,
    default="",
    usage="comma separated peer URLs for the updated member.",
)
@pass_config
def update_command(config: Config, args: tuple[str, ...], peer_urls: str) -> None:
    member_id = member_id_arg(args)
    if not peer_urls:
        raise CliError(EXIT_BAD_ARGS, "member peer urls not provided")
    with config.client() as client:
        client.member_update(member_id, peer_urls.split(","))
        result = change(config, client, "updated in", member_id, None)
    config.printer().member_change(result)


@member_group.command(
    "promote",
    cls=EtcdCommand,
    use="promote <memberID>",
    help="Promotes a non-voting member in the cluster",
    long="Promotes a non-voting learner member to a voting one in the cluster.\n",
)
@click.argument("args", nargs=-1)
@pass_config
def promote_command(config: Config, args: tuple[str, ...]) -> None:
    member_id = member_id_arg(args)
    with config.client() as client:
        client.member_promote(member_id)
        result = change(config, client, "promoted in", member_id, None)
    config.printer().member_change(result)
