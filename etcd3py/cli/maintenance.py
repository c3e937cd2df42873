"""``alarm list | disarm``, ``defrag``, ``move-leader`` and ``snapshot save | status |
restore``: etcd's maintenance service.

The public client returns alarms without etcd's response header; the formats that print
one get the header of a read made just after (the same cluster, member, term and, unless
another client wrote in between, revision).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click

import etcd3py

from .app import Config, EtcdCommand, EtcdGroup, pass_config, root
from .endpoint import CLUSTER_USAGE, client_for, endpoints_of
from .errors import EXIT_BAD_ARGS, EXIT_ERROR, EXIT_INTERRUPTED, CliError, error_text, exit_quietly
from .flags import BOOL, STRING, flag
from .output.cluster import AlarmList, MoveLeader
from .output.responses import EmptyHeader, HeaderLike
from .output.simple import SimplePrinter
from .output.stream import line


def header_after(config: Config, client: etcd3py.Client) -> HeaderLike:
    """A current header, for the formats that print one (see the module's docstring)."""
    if isinstance(config.printer(), SimplePrinter):
        return EmptyHeader()  # not printed: spare the read
    return client.get(b"\x00", count_only=True).header


@root.group("alarm", cls=EtcdGroup, use="alarm <subcommand>", help="Alarm related commands")
def alarm_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


@alarm_group.command("disarm", cls=EtcdCommand, use="disarm", help="Disarms all alarms")
@click.argument("args", nargs=-1)
@pass_config
def disarm_command(config: Config, args: tuple[str, ...]) -> None:
    if args:
        raise CliError(EXIT_BAD_ARGS, "alarm disarm command accepts no arguments")
    with config.client() as client:
        cleared: list[etcd3py.Alarm] = []
        for kind in {a.alarm for a in client.alarms()}:
            cleared.extend(client.disarm(kind))
    config.printer().alarms(AlarmList(cleared, None))


@alarm_group.command("list", cls=EtcdCommand, use="list", help="Lists all alarms")
@click.argument("args", nargs=-1)
@pass_config
def alarm_list_command(config: Config, args: tuple[str, ...]) -> None:
    if args:
        raise CliError(EXIT_BAD_ARGS, "alarm list command accepts no arguments")
    with config.client() as client:
        alarms = client.alarms()
        header = header_after(config, client)
    config.printer().alarms(AlarmList(alarms, header))


@root.command(
    "defrag",
    cls=EtcdCommand,
    use="defrag",
    help="Defragments the storage of the etcd members with given endpoints",
)
@click.argument("args", nargs=-1)
@flag("--cluster", type=BOOL, default=False, usage=CLUSTER_USAGE)
@flag(
    "--data-dir",
    type=STRING,
    default="",
    usage="Optional. If present, defragments a data directory not in use by etcd.",
)
@pass_config
def defrag_command(config: Config, args: tuple[str, ...], cluster: bool, data_dir: str) -> None:
    if data_dir:
        click.echo(
            "Use `etcdutl defrag` instead. The --data-dir is going to be decomissioned in v3.6.\n",
            err=True,
        )
        # etcdctl 3.5 compacts the bbolt file itself; etcd3py has no offline bbolt writer
        raise CliError(
            EXIT_ERROR,
            "defrag --data-dir is not supported by etcd3py: use `etcdutl defrag --data-dir "
            f"{data_dir}`, or defragment the running member",
        )
    failures = 0
    for endpoint in endpoints_of(config, cluster):
        try:
            with client_for(config, endpoint) as client:
                client.defragment()
        except etcd3py.EtcdError as error:
            click.echo(
                f"Failed to defragment etcd member[{endpoint}] ({error_text(error)})", err=True
            )
            failures += 1
        else:
            line(f"Finished defragmenting etcd member[{endpoint}]")
    if failures:
        exit_quietly(EXIT_ERROR)


@root.command(
    "move-leader",
    cls=EtcdCommand,
    use="move-leader <transferee-member-id>",
    help="Transfers leadership to another etcd cluster member.",
)
@click.argument("args", nargs=-1)
@pass_config
def move_leader_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "move-leader command needs 1 argument")
    text = args[0]
    digits = text[1:] if text[:1] == "+" else text
    if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise CliError(EXIT_BAD_ARGS, f'strconv.ParseUint: parsing "{text}": invalid syntax')
    target = int(digits, 16)
    if target >= 1 << 64:
        raise CliError(EXIT_BAD_ARGS, f'strconv.ParseUint: parsing "{text}": value out of range')
    endpoints = config.endpoints()
    for endpoint in endpoints:  # the leader among the endpoints given, as etcdctl looks
        with client_for(config, endpoint) as client:
            try:
                status = client.status()
            except etcd3py.EtcdError as error:
                raise CliError(EXIT_ERROR, error_text(error)) from None
            if status.leader != status.member_id:
                continue
            client.move_leader(target)
            header = header_after(config, client)
            config.printer().move_leader(MoveLeader(status.leader, target, header))
            return
    raise CliError(EXIT_BAD_ARGS, f"no leader endpoint given at [{' '.join(endpoints)}]")


@root.group(
    "snapshot", cls=EtcdGroup, use="snapshot <subcommand>", help="Manages etcd node snapshots"
)
def snapshot_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


@snapshot_group.command(
    "save",
    cls=EtcdCommand,
    use="save <filename>",
    help="Stores an etcd node backend snapshot to a given file",
)
@click.argument("args", nargs=-1)
@pass_config
def save_command(config: Config, args: tuple[str, ...]) -> None:
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "snapshot save expects one argument")
    endpoints = config.endpoints()
    if len(endpoints) != 1:
        raise CliError(
            EXIT_INTERRUPTED,
            "snapshot must be requested to one selected node, not multiple"
            f" [{' '.join(endpoints)}]",
        )
    path = args[0]
    partial = path + ".part"
    try:
        with config.client() as client, open(partial, "wb") as out:
            client.snapshot(out)
            out.flush()
            os.fsync(out.fileno())
    except (etcd3py.EtcdError, OSError) as error:
        text = error_text(error) if isinstance(error, etcd3py.EtcdError) else str(error)
        raise CliError(EXIT_INTERRUPTED, text) from None
    os.replace(partial, path)
    line(f"Snapshot saved at {path}")


@snapshot_group.command(
    "status",
    cls=EtcdCommand,
    use="status <filename>",
    help="[deprecated] Gets backend snapshot status of a given file",
    long="When --write-out is set to simple, this command prints out comma-separated status"
    " lists for each endpoint.\nThe items in the lists are hash, revision, total keys, total"
    " size.\n\nMoved to 'etcdctl snapshot status ...'\n",
)
@click.argument("args", nargs=-1)
@pass_config
def status_command(config: Config, args: tuple[str, ...]) -> None:
    click.echo("Deprecated: Use `etcdutl snapshot status` instead.\n", err=True)
    # etcdctl 3.5 runs etcdutl's code in-process; etcd3py has no bbolt reader of its own,
    # so it runs etcdutl when one is installed
    etcdutl = shutil.which("etcdutl")
    if etcdutl is None:
        raise CliError(
            EXIT_ERROR, "snapshot status needs etcdutl (not found on PATH): etcd3py cannot read it"
        )
    code = subprocess.call([etcdutl, "snapshot", "status", *args, "-w", config["write_out"]])
    if code:
        exit_quietly(code)


@snapshot_group.command(
    "restore",
    cls=EtcdCommand,
    use="restore <filename> [options]",
    help="Restores an etcd member snapshot to an etcd directory",
    long="Moved to `etcdctl snapshot restore ...`\n",
)
@click.argument("args", nargs=-1)
@flag("--data-dir", type=STRING, default="", usage="Path to the data directory")
@flag(
    "--wal-dir",
    type=STRING,
    default="",
    usage="Path to the WAL directory (use --data-dir if none given)",
)
@flag(
    "--initial-cluster",
    type=STRING,
    default="default=http://localhost:2380",
    usage="Initial cluster configuration for restore bootstrap",
)
@flag(
    "--initial-cluster-token",
    type=STRING,
    default="etcd-cluster",
    usage="Initial cluster token for the etcd cluster during restore bootstrap",
)
@flag(
    "--initial-advertise-peer-urls",
    type=STRING,
    default="http://localhost:2380",
    usage="List of this member's peer URLs to advertise to the rest of the cluster",
)
@flag("--name", type=STRING, default="default", usage="Human-readable name for this member")
@flag(
    "--skip-hash-check",
    type=BOOL,
    default=False,
    usage="Ignore snapshot integrity hash value (required if copied from data directory)",
)
@pass_config
def restore_command(config: Config, args: tuple[str, ...], **options: object) -> None:
    click.echo("Deprecated: Use `etcdutl snapshot restore` instead.\n", err=True)
    if len(args) != 1:
        raise CliError(EXIT_BAD_ARGS, "snapshot restore requires exactly one argument")
    # etcdutl when installed (an etcd data directory, as etcdctl makes); otherwise etcd3py's
    # own server's restorer, which takes etcdutl's flags and makes a server_ref data directory
    etcdutl = shutil.which("etcdutl")
    command = [etcdutl] if etcdutl else [sys.executable, "-m", "etcd3py.server_ref"]
    command += ["snapshot", "restore", args[0]]
    if options["wal_dir"] and etcdutl:
        command += ["--wal-dir", str(options["wal_dir"])]
    for name in ("data_dir", "name", "initial_cluster", "initial_cluster_token"):
        if options[name]:
            command += [f"--{name.replace('_', '-')}", str(options[name])]
    command += ["--initial-advertise-peer-urls", str(options["initial_advertise_peer_urls"])]
    if options["skip_hash_check"]:
        command.append("--skip-hash-check")
    code = subprocess.call(command)
    if code:
        exit_quietly(code)
