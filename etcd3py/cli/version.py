"""``version``: etcdctl's version lines (the command line is etcdctl 3.5.1's, so it says so)."""

from __future__ import annotations

import click

from .app import EtcdCommand, root
from .output.stream import line
from .usage import API_VERSION, ETCDCTL_VERSION


@root.command("version", cls=EtcdCommand, use="version", help="Prints the version of etcdctl")
@click.argument("args", nargs=-1)  # ignored, as cobra ignores them
def version_command(**_: object) -> None:
    line(f"etcdctl version: {ETCDCTL_VERSION}")
    line(f"API version: {API_VERSION}")
