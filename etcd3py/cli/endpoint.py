"""``endpoint health | status | hashkv`` (``--cluster``: every member's client URLs).

Each endpoint gets its own client, as etcdctl gives each its own. ``hashkv``'s JSON and
protobuf forms carry the compaction revision, which the public ``hash_kv`` does not
return: it is read from a watch at revision 1 (a compacted history says where it starts),
-1 when nothing was compacted, as etcd reports it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

import etcd3py

from .app import Config, EtcdCommand, EtcdGroup, pass_config, root
from .errors import EXIT_ERROR, CliError, error_text, exit_quietly
from .flags import BOOL, INT, flag
from .gofmt import go_duration
from .output.cluster import EndpointHash, EndpointHealth, EndpointStatus

CLUSTER_USAGE = "use all endpoints from the cluster member list"


def cluster_flag() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return flag("--cluster", type=BOOL, default=False, usage=CLUSTER_USAGE)


@root.group(
    "endpoint", cls=EtcdGroup, use="endpoint <subcommand>", help="Endpoint related commands"
)
@cluster_flag()
def endpoint_group(**_: object) -> None:
    """The group itself does nothing: named alone it prints its usage."""


def inherit_cluster_flag(command: click.Command) -> click.Command:
    """``--cluster`` is a persistent flag of cobra's ``endpoint``: its sub-commands list it
    with the global flags, and it may come before the sub-command's name."""
    for param in command.params:
        if param.name == "cluster":
            param.inherited = True  # type: ignore[attr-defined]
    return command


def given_cluster(cluster: bool) -> bool:
    """The sub-command's ``--cluster``, or the group's (``endpoint --cluster status``)."""
    parent = click.get_current_context().parent
    return cluster or bool(parent is not None and parent.params.get("cluster"))


def endpoints_of(config: Config, cluster: bool) -> list[str]:
    """``--endpoints``, or with ``--cluster`` every member's client URLs (read without
    credentials, as etcdctl reads them)."""
    if not cluster:
        return config.endpoints()
    anonymous = dataclasses.replace(config, values={**config.values, "user": "", "password": ""})
    try:
        with anonymous.client() as client:
            members = client.member_list()
    except etcd3py.EtcdError as error:
        raise CliError(
            EXIT_ERROR,
            f"failed to fetch endpoints from etcd cluster member list: {error_text(error)}",
        ) from None
    return [url for m in members for url in m.client_urls]


@contextmanager
def client_for(config: Config, endpoint: str) -> Iterator[etcd3py.Client]:
    """A client of one endpoint, with the command's other settings."""
    one = dataclasses.replace(config, values={**config.values, "endpoints": [endpoint]})
    with one.client() as client:
        yield client


def check_health(config: Config, endpoint: str) -> EndpointHealth:
    """etcdctl's check: a linearizable read (permission denied counts as healthy), then
    no alarm raised."""
    with client_for(config, endpoint) as client:
        started = time.perf_counter_ns()
        error = ""
        try:
            client.get("health")
        except etcd3py.PermissionDeniedError:
            pass
        except etcd3py.EtcdError as failure:
            error = error_text(failure)
        took = go_duration(time.perf_counter_ns() - started)
        if error:
            return EndpointHealth(endpoint, False, took, error)
        try:
            alarms = client.alarms()
        except etcd3py.EtcdError:
            return EndpointHealth(endpoint, False, took, "Unable to fetch the alarm list")
        if alarms:
            names = "".join(f"{a.alarm.name} " for a in alarms)
            return EndpointHealth(endpoint, False, took, "Active Alarm(s): " + names)
        return EndpointHealth(endpoint, True, took)


@inherit_cluster_flag
@endpoint_group.command(
    "health",
    cls=EtcdCommand,
    use="health",
    help="Checks the healthiness of endpoints specified in `--endpoints` flag",
)
@click.argument("args", nargs=-1)
@cluster_flag()
@pass_config
def health_command(config: Config, args: tuple[str, ...], cluster: bool) -> None:
    config.printer()  # an unknown -w fails first
    results = [check_health(config, ep) for ep in endpoints_of(config, given_cluster(cluster))]
    config.printer().endpoint_health(results)
    if any(h.error for h in results):
        raise CliError(EXIT_ERROR, "unhealthy cluster")


@inherit_cluster_flag
@endpoint_group.command(
    "status",
    cls=EtcdCommand,
    use="status",
    help="Prints out the status of endpoints specified in `--endpoints` flag",
    long="When --write-out is set to simple, this command prints out comma-separated status"
    " lists for each endpoint.\nThe items in the lists are endpoint, ID, version, db size, is"
    " leader, is learner, raft term, raft index, raft applied index, errors.\n",
)
@click.argument("args", nargs=-1)
@cluster_flag()
@pass_config
def status_command(config: Config, args: tuple[str, ...], cluster: bool) -> None:
    config.printer()
    results: list[EndpointStatus] = []
    failed = False
    for endpoint in endpoints_of(config, given_cluster(cluster)):
        try:
            with client_for(config, endpoint) as client:
                results.append(EndpointStatus(endpoint, client.status()))
        except etcd3py.EtcdError as error:
            failed = True
            click.echo(
                f"Failed to get the status of endpoint {endpoint} ({error_text(error)})", err=True
            )
    config.printer().endpoint_status(results)
    if failed:
        exit_quietly(EXIT_ERROR)


def compact_revision(client: etcd3py.Client, timeout: float) -> int:
    """Where the kept history starts (-1: never compacted); see the module's docstring.

    etcd confirms a watch from a compacted revision, then cancels it with the compaction
    revision; otherwise the progress notification asked for comes back instead."""
    try:
        with client.watch(b"\x00", start_revision=1) as watch:
            watch.start(timeout)
            client.request_progress()
            response = watch.get(timeout)
    except etcd3py.CompactedError as error:
        return error.compact_revision or -1
    if response is None or not response.compact_revision:
        return -1
    return response.compact_revision


@inherit_cluster_flag
@endpoint_group.command(
    "hashkv",
    cls=EtcdCommand,
    use="hashkv",
    help="Prints the KV history hash for each endpoint in --endpoints",
)
@click.argument("args", nargs=-1)
@cluster_flag()
@flag("--rev", type=INT, default=0, usage="maximum revision to hash (default: all revisions)")
@pass_config
def hashkv_command(config: Config, args: tuple[str, ...], cluster: bool, rev: int) -> None:
    printer = config.printer()
    results: list[EndpointHash] = []
    last_error: etcd3py.EtcdError | None = None
    for endpoint in endpoints_of(config, given_cluster(cluster)):
        try:
            with client_for(config, endpoint) as client:
                value = client.hash_kv(rev)
                header = client.status().header
                compacted = -1
                if printer.name in ("json", "protobuf"):  # the forms that print it
                    compacted = compact_revision(client, config["command_timeout"])
                results.append(EndpointHash(endpoint, value, compacted, header))
        except etcd3py.EtcdError as error:
            last_error = error
            click.echo(
                f"Failed to get the hash of endpoint {endpoint} ({error_text(error)})", err=True
            )
    printer.endpoint_hash(results)
    if last_error is not None:
        raise CliError(EXIT_ERROR, error_text(last_error))
