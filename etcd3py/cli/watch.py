"""``watch``: print a key's or range's events as they come, or run a command for each
(``watch key -- command args``), or take watch requests from stdin (``-i``).

Arguments follow etcdctl's rules (ETCDCTL_WATCH_KEY / ETCDCTL_WATCH_RANGE_END stand for
the key and range end; ``--`` starts the command); the command gets the event in
ETCD_WATCH_REVISION, ETCD_WATCH_EVENT_TYPE, ETCD_WATCH_KEY and ETCD_WATCH_VALUE (Go-quoted,
as etcdctl sets them). A watch the server cancels ends with exit code 5.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from typing import Any

import click

import etcd3py

from . import usage
from .app import Config, EtcdCommand, pass_config, root
from .errors import EXIT_BAD_ARGS, EXIT_INTERRUPTED, EXIT_INVALID_INPUT, CliError
from .flags import BOOL, INT, flag
from .kv import arg_bytes
from .output import Printer
from .output.responses import WatchCanceled
from .output.stream import line
from .output.text import go_quote
from .txn import argify

BAD_ARGS_NUM = "bad number of arguments"
CONFLICT_ENV = "bad number of arguments (found conflicting environment key)"
NO_COMMAND = "bad number of arguments (found separator --, but no commands)"

_print_lock = threading.Lock()  # -i runs several watches: their responses do not interleave


class WatchCommand(EtcdCommand):
    """Keeps the arguments as typed: where ``--`` was is needed after click has parsed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["watch.raw_args"] = list(args)
        return super().parse_args(ctx, args)


def bad_args(message: str) -> CliError:
    return CliError(EXIT_BAD_ARGS, message)


@root.command(
    "watch",
    cls=WatchCommand,
    use="watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
    help="Watches events stream on keys or prefixes",
)
@click.argument("args", nargs=-1)
@flag("-i", "--interactive", type=BOOL, default=False, usage="Interactive mode")
@flag("--prefix", type=BOOL, default=False, usage="Watch on a prefix if prefix is set")
@flag("--rev", type=INT, default=0, usage="Revision to start watching")
@flag(
    "--prev-kv",
    type=BOOL,
    default=False,
    usage="get the previous key-value pair before the event happens",
)
@flag(
    "--progress-notify",
    type=BOOL,
    default=False,
    usage="get periodic watch progress notification from server",
)
@pass_config
def watch_command(
    config: Config,
    args: tuple[str, ...],
    interactive: bool,
    prefix: bool,
    rev: int,
    prev_kv: bool,
    progress_notify: bool,
) -> None:
    env_key = os.environ.get("ETCDCTL_WATCH_KEY", "")
    env_range = os.environ.get("ETCDCTL_WATCH_RANGE_END", "")
    if not env_key and env_range:
        shown = go_quote(env_range.encode())
        raise bad_args(f"ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END={shown}")
    if interactive:
        run_interactive(config, progress_notify, env_key, env_range)
        return
    raw = click.get_current_context().meta["watch.raw_args"]
    exec_args: list[str] = []
    positional = list(args)
    if "--" in raw:
        separator = raw.index("--")
        if separator == len(raw) - 1:
            raise bad_args(NO_COMMAND)
        exec_args = raw[separator + 1 :]
        positional = positional[: len(positional) - len(exec_args)]
    elif not raw and not env_key:
        raise bad_args(BAD_ARGS_NUM)
    if env_key and positional:
        raise bad_args(CONFLICT_ENV)
    if env_key:
        positional = [env_key, *([env_range] if env_range else [])]
    options = {"prefix": prefix, "rev": rev, "prev_kv": prev_kv, "progress_notify": progress_notify}
    with config.client() as client:
        problem = watch_problem(positional, prefix)
        if problem:
            raise bad_args(problem)
        follow(client, config.printer(), positional, options, exec_args)
    raise CliError(EXIT_INTERRUPTED, "watch is canceled by the server")


def watch_problem(args: list[str], prefix: bool) -> str | None:
    """etcdctl's getWatchChan checks."""
    if not args:
        return BAD_ARGS_NUM
    if len(args) == 2 and prefix:
        return "`range_end` and `--prefix` are mutually exclusive"
    return None


def follow(
    client: etcd3py.Client,
    display: Printer,
    args: list[str],
    options: dict[str, Any],
    exec_args: list[str],
) -> None:
    """Print the watch's responses (and run the command per event) until it ends."""
    key = arg_bytes(args[0])
    range_end = arg_bytes(args[1]) if len(args) == 2 else None
    prefix = bool(options["prefix"])
    if prefix and not key:  # clientv3.WithPrefix on "": every key
        key, range_end, prefix = b"\x00", b"\x00", False
    try:
        with client.watch(
            key,
            prefix=prefix,
            range_end=range_end,
            start_revision=max(int(options["rev"]), 0),
            prev_kv=bool(options["prev_kv"]),
            progress_notify=bool(options["progress_notify"]),
        ) as watch:
            for response in watch:
                with _print_lock:
                    if response.is_progress_notify:
                        line(f"progress notify: {response.header.revision}")
                    display.watch(response)
                    if exec_args:
                        run_for_events(exec_args, response)
    except etcd3py.CompactedError as error:
        reason = error.spec.message if error.spec is not None else error.details
        sys.stderr.write(f"watch was canceled ({reason})\n")
        header = client.get(b"\x00", count_only=True).header
        display.watch(WatchCanceled(_without_revision(header), error.compact_revision))


class _HeaderWithoutRevision:
    """The header of a cancelling watch response: etcd leaves its revision out."""

    def __init__(self, header: etcd3py.Header) -> None:
        self.cluster_id = header.cluster_id
        self.member_id = header.member_id
        self.raft_term = header.raft_term
        self.revision = 0


def _without_revision(header: etcd3py.Header) -> _HeaderWithoutRevision:
    return _HeaderWithoutRevision(header)


def run_for_events(exec_args: list[str], response: etcd3py.WatchResponse) -> None:
    """The command once per event, with the event in its environment; a failure ends
    etcdctl (exit 1, its message on stderr)."""
    for event in response.events:
        env = {
            **os.environ,
            "ETCD_WATCH_REVISION": str(response.header.revision),
            "ETCD_WATCH_EVENT_TYPE": go_quote(event.type.name.encode()),
            "ETCD_WATCH_KEY": go_quote(event.kv.key),
            "ETCD_WATCH_VALUE": go_quote(event.kv.value),
        }
        failure = run_command(exec_args, env)
        if failure is not None:
            shown = "[" + " ".join(go_quote(a.encode()) for a in exec_args) + "]"
            sys.stderr.write(f"command {shown} error ({failure})\n")
            sys.stderr.flush()
            raise click.exceptions.Exit(1)


def run_command(exec_args: list[str], env: dict[str, str]) -> str | None:
    """Run to completion, sharing our stdout/stderr; Go's description of a failure."""
    sys.stdout.flush()
    out: int = subprocess.PIPE
    err: int = subprocess.PIPE
    # not real files (a test runner's): the output is copied over instead
    with contextlib.suppress(AttributeError, OSError, ValueError):
        out, err = sys.stdout.fileno(), sys.stderr.fileno()
    captured = out == subprocess.PIPE
    try:
        proc = subprocess.run(exec_args, env=env, check=False, stdout=out, stderr=err)
    except FileNotFoundError:
        if "/" in exec_args[0]:  # Go runs a path as it is, and looks up a bare name
            return f"fork/exec {exec_args[0]}: no such file or directory"
        return f'exec: "{exec_args[0]}": executable file not found in $PATH'
    except PermissionError:
        return f"fork/exec {exec_args[0]}: permission denied"
    if captured:
        sys.stdout.buffer.write(proc.stdout)
        sys.stdout.flush()
        sys.stderr.write(proc.stderr.decode(errors="replace"))
        sys.stderr.flush()
    if proc.returncode > 0:
        return f"exit status {proc.returncode}"
    if proc.returncode < 0:
        return f"signal: {_signal_name(-proc.returncode)}"
    return None


def _signal_name(number: int) -> str:
    names = {
        1: "hangup",
        2: "interrupt",
        3: "quit",
        6: "aborted",
        9: "killed",
        13: "broken pipe",
        15: "terminated",
    }
    return names.get(number, f"signal {number}")


# ---- -i: watch requests from stdin ----


def run_interactive(config: Config, progress_notify: bool, env_key: str, env_range: str) -> None:
    """Read ``watch ...`` and ``progress`` lines until stdin ends (then exit 3, as etcdctl)."""
    stdin = sys.stdin.buffer
    with config.client() as client:
        display = config.printer()
        while True:
            raw = stdin.readline()
            if not raw.endswith(b"\n"):
                raise CliError(EXIT_INVALID_INPUT, "error reading watch request line: EOF")
            text = raw[:-1].decode("utf-8", "surrogateescape")
            args = argify(text)
            if not args:
                _complain(f"Invalid command: {text} (watch and progress supported)")
            elif args[0] == "watch":
                start_interactive_watch(
                    client, display, text, args, progress_notify, env_key, env_range
                )
            elif args[0] == "progress":
                client.request_progress()
            else:
                _complain(f"Invalid command {text} (only support watch)")


def _follow_quietly(*args: Any) -> None:
    """A watch of -i, in its own thread: it ends quietly when the client closes (as
    etcdctl's goroutines end with the process)."""
    with contextlib.suppress(etcd3py.EtcdError, click.exceptions.Exit):
        follow(*args)


def _complain(message: str) -> None:
    with _print_lock:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def start_interactive_watch(
    client: etcd3py.Client,
    display: Printer,
    text: str,
    args: list[str],
    progress_notify: bool,
    env_key: str,
    env_range: str,
) -> None:
    if len(args) < 2 and not env_key:
        _complain(f"Invalid command {text} (command type or key is not provided)")
        return
    tokens = args[1:]
    exec_args: list[str] = []
    if "--" in tokens:
        separator = tokens.index("--")
        if separator == len(tokens) - 1:
            raise bad_args(NO_COMMAND)
        tokens, exec_args = tokens[:separator], tokens[separator + 1 :]
    try:
        ctx = watch_command.make_context("watch", list(tokens))
    except click.ClickException as error:
        raise bad_args(usage.message_of(error)) from None
    positional = list(ctx.params["args"])
    if not exec_args and not env_key and not positional:
        raise bad_args(BAD_ARGS_NUM)
    if not exec_args and positional and env_key:
        raise bad_args(CONFLICT_ENV)
    if env_key:
        positional = [env_key, *([env_range] if env_range else []), *positional]
    problem = watch_problem(positional, ctx.params["prefix"])
    if problem:
        _complain(f"Invalid command {text} ({problem})")
        return
    options = {
        "prefix": ctx.params["prefix"],
        "rev": ctx.params["rev"],
        "prev_kv": ctx.params["prev_kv"],
        "progress_notify": progress_notify,  # etcdctl keeps the command line's
    }
    thread = threading.Thread(
        target=_follow_quietly, args=(client, display, positional, options, exec_args), daemon=True
    )
    thread.start()
