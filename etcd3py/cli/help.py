"""``help [command]``: cobra's help command, which etcdctl has: a command's usage."""

from __future__ import annotations

import sys

import click

from . import usage
from .app import EtcdCommand, root

HELP_LONG = """Help provides help for any command in the application.
Simply type etcdctl help [path to command] for full details."""


@root.command(
    "help", cls=EtcdCommand, use="help [command]", help="Help about any command", long=HELP_LONG
)
@click.argument("args", nargs=-1)
def help_command(args: tuple[str, ...], **_: object) -> None:
    ctx = click.get_current_context()
    target: click.Context = ctx.find_root()
    for name in args:
        command = target.command
        sub = command.get_command(target, name) if isinstance(command, click.Group) else None
        if sub is None:  # cobra: the message, then the root's usage
            topic = " ".join(f"`{a}`" for a in args)
            sys.stderr.write(f"Unknown help topic [{topic}]\n")
            target = ctx.find_root()
            break
        target = click.Context(sub, info_name=name, parent=target)
    usage.print_usage(target)
