"""etcdctl's help and usage text, and its reports of command-line mistakes.

cobra prints a command's usage (etcd's template, aligned by Go's text/tabwriter) on
standard output when a flag is wrong, between two copies of the ``Error:`` line on
stderr; it exits 1. These are rebuilt here from the commands' flags.
"""

from __future__ import annotations

from typing import Any

import click

from .flags import Flag, GoBool
from .output.stream import write
from .output.text import go_quote

TAB_WIDTH = 8


class UnknownCommand(click.UsageError):
    def __init__(self, name: str, ctx: click.Context) -> None:
        super().__init__(f'unknown command "{name}" for "{command_path(ctx)}"', ctx)


class Interrupted(Exception):
    """Ctrl-C (or end of input where a prompt waited): leave as etcdctl does, by the signal."""


def help_flag() -> Flag:
    return Flag(
        ["-h", "--help"],
        type=_HelpType(),
        default=False,
        go_default="false",
        usage="help for {name}",
    )


class _HelpType(GoBool):
    """``-h``: print the usage and stop (a bool flag: ``--help`` becomes ``--help=true``)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        shown = super().convert(value, param, ctx)
        if shown is True and ctx is not None and not ctx.resilient_parsing:
            print_usage(ctx)
            ctx.exit(0)
        return shown


def command_path(ctx: click.Context) -> str:
    names = []
    node: click.Context | None = ctx
    while node is not None:
        names.append(node.info_name or "")
        node = node.parent
    return " ".join(reversed(names))


def _flag_lines(flags: list[Flag], command_name: str) -> list[str]:
    lines = []
    for flag in sorted(flags, key=lambda f: max(f.opts, key=len)):
        longest = max(flag.opts, key=len).lstrip("-")
        shorts = [o.lstrip("-") for o in flag.opts if not o.startswith("--")]
        text = f"  -{shorts[0]}, --{longest}" if shorts else f"      --{longest}"
        is_bool = flag.go_type.go_type == "bool"
        default = (
            go_quote(flag.go_default.encode())
            if flag.go_type.go_type == "string"
            else flag.go_default
        )
        text += f"[={default}]" if is_bool else f"={default}"
        lines.append(f"{text}\t{flag.usage.replace('{name}', command_name)}")
    return lines


def usage_text(ctx: click.Context) -> str:
    """etcd's usage template for the context's command."""
    from .app import GLOBAL_NAMES

    command = ctx.command
    is_root = ctx.parent is None
    path = command_path(ctx)
    name = path.split(" ", 1)[1] if not is_root else path
    use = getattr(command, "use", None) or command.name or ""
    flags = [p for p in command.params if isinstance(p, Flag)]
    # a flag marked ``inherited`` is a parent group's persistent flag (endpoint --cluster)
    inherited = [f for f in flags if f.name in GLOBAL_NAMES or getattr(f, "inherited", False)]
    local = [f for f in flags if f not in inherited]
    if is_root:
        local, inherited = flags, []
    use_line = " ".join([*path.split(" ")[:-1], use])
    if flags and "[flags]" not in use_line:
        use_line += " [flags]"
    short = command.short_help or command.help or ""
    out = ["NAME:", f"\t{name} - {short}", "", "USAGE:", f"\t{use_line}"]
    if is_root:
        out += ["", "VERSION:", f"\t{ETCDCTL_VERSION}"]
    if isinstance(command, click.Group):
        out += ["", "API VERSION:", f"\t{API_VERSION}", "", "", "COMMANDS:"]
        out += [f"\t{n}\t{text}" for n, text in _sub_commands(ctx, command, "")]
    long = getattr(command, "long", None)
    if long:
        out += ["", "DESCRIPTION:", *(f"\t{ln}" for ln in long.strip("\n\t ").split("\n"))]
    if local:
        out += ["", "OPTIONS:", *_flag_lines(local, name.split(" ")[-1])]
    if inherited:
        out += ["", "GLOBAL OPTIONS:", *_flag_lines(inherited, name.split(" ")[-1])]
    return tabwriter("\n".join(out) + "\n\n")


ETCDCTL_VERSION = "3.5.1"
API_VERSION = "3.5"


def _sub_commands(ctx: click.Context, group: click.Group, prefix: str) -> list[tuple[str, str]]:
    rows = []
    for sub_name in group.list_commands(ctx):
        sub = group.get_command(ctx, sub_name)
        if sub is None:
            continue
        # cobra lists runnable commands only, so etcdctl's groups (EtcdGroup, a subclass)
        # show theirs; a plain click group mounted here (etcd3py benchmark: a tool of its
        # own, with its own usage) is one line
        if isinstance(sub, click.Group) and type(sub) is not click.Group:
            rows += _sub_commands(ctx, sub, f"{prefix}{sub_name} ")
        else:
            rows.append((f"{prefix}{sub_name}", sub.short_help or sub.help or ""))
    return rows


def tabwriter(text: str) -> str:
    """Go's text/tabwriter with etcd's settings (tab width 8, padding 1, padded with tabs):
    a column is as wide as its widest cell in a run of lines that have it."""
    lines = [ln.split("\t") for ln in text.split("\n")]
    widths: dict[tuple[int, int], int] = {}  # (line, column) -> column width
    _measure(lines, 0, len(lines), 0, widths)
    out = []
    for i, cells in enumerate(lines):
        parts = []
        for col, cell in enumerate(cells[:-1]):
            width = (widths[(i, col)] + TAB_WIDTH - 1) // TAB_WIDTH * TAB_WIDTH
            parts.append(cell + "\t" * ((width - len(cell) + TAB_WIDTH - 1) // TAB_WIDTH))
        parts.append(cells[-1])
        out.append("".join(parts))
    return "\n".join(out)


def _measure(
    lines: list[list[str]], start: int, end: int, column: int, widths: dict[tuple[int, int], int]
) -> None:
    i = start
    while i < end:
        if len(lines[i]) - 1 <= column:
            i += 1
            continue
        j = i
        while j < end and len(lines[j]) - 1 > column:
            j += 1
        width = max(len(lines[k][column]) for k in range(i, j)) + 1
        for k in range(i, j):
            widths[(k, column)] = width
        _measure(lines, i, j, column + 1, widths)
        i = j


_PFLAG_VARNAMES = {"bool": "", "int64": "int", "stringSlice": "strings"}
_ZERO_DEFAULTS = {"bool": "false", "int64": "0", "string": "", "duration": "0s"}


def cobra_default_usage(command: click.Command, name: str) -> str:
    """cobra's own usage template (not etcd's), with pflag's FlagUsages: what cobra prints
    on stderr for a bad flag in a txn request line, where etcdctl runs get/put/del under a
    bare cobra command."""
    from .app import GLOBAL_NAMES

    flags = [p for p in command.params if isinstance(p, Flag) and p.name not in GLOBAL_NAMES]
    entries = []
    for flag in sorted(flags, key=lambda f: max(f.opts, key=len)):
        longest = max(flag.opts, key=len)
        shorts = [o for o in flag.opts if not o.startswith("--")]
        head = f"  {shorts[0]}, {longest}" if shorts else f"      {longest}"
        kind = flag.go_type.go_type
        varname = _PFLAG_VARNAMES.get(kind, kind)
        if varname:
            head += " " + varname
        text = flag.usage.replace("{name}", name)
        if flag.go_default != _ZERO_DEFAULTS.get(kind, ""):
            shown = go_quote(flag.go_default.encode()) if kind == "string" else flag.go_default
            text += f" (default {shown})"
        entries.append((head, text))
    width = max(len(head) for head, _ in entries) + 1
    lines = [f"{head} {' ' * (width - len(head))} {text}" for head, text in entries]
    use = getattr(command, "use", "") or name
    if flags and "[flags]" not in use:
        use += " [flags]"
    return f"Usage:\n   {use}\n\nFlags:\n" + "\n".join(lines) + "\n\n"


def print_usage(ctx: click.Context) -> None:
    write(usage_text(ctx))


def report(error: click.ClickException) -> int:
    """cobra's report of a command-line mistake; exit code 1."""
    ctx = getattr(error, "ctx", None)
    message = message_of(error)
    if isinstance(error, UnknownCommand):
        root = command_path(ctx).split(" ")[0] if ctx else "etcdctl"
        click.echo(f"Error: {message}\nRun '{root} --help' for usage.", err=True)
    else:
        click.echo(f"Error: {message}", err=True)
        if ctx is not None:
            print_usage(ctx)
        click.echo("", err=True)
    click.echo(f"Error: {message}", err=True)
    return 1


def message_of(error: click.ClickException) -> str:
    """pflag's message for a command-line mistake click reported."""
    if isinstance(error, click.NoSuchOption):
        return _flag_message(
            "unknown flag: {}", "unknown shorthand flag: {!r} in {}", error.option_name
        )
    if isinstance(error, click.BadOptionUsage):
        return _flag_message(
            "flag needs an argument: {}", "flag needs an argument: {!r} in {}", error.option_name
        )
    return error.message


def _flag_message(long_form: str, short_form: str, option: str) -> str:
    if option.startswith("--"):
        return long_form.format(option)
    return short_form.format(option.lstrip("-"), option).replace('"', "'")
