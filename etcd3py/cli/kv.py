"""``get``, ``put``, ``del`` and ``compaction``: the key-value commands, with etcdctl's
checks in its order."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

import click

import etcd3py

from .app import Config, EtcdCommand, pass_config, root
from .errors import EXIT_BAD_ARGS, EXIT_BAD_FEATURE, EXIT_ERROR, CliError
from .flags import BOOL, INT, flag
from .output.fields import FieldsPrinter
from .output.simple import SimplePrinter
from .output.stream import line

SORT_TARGETS = {"": 0, "KEY": 0, "VERSION": 1, "CREATE": 2, "MODIFY": 3, "VALUE": 4}
SORT_ORDERS = {"": 0, "ASCEND": 1, "DESCEND": 2}  # NONE, ASCEND, DESCEND


def arg_bytes(text: str) -> bytes:
    """A command-line argument as the bytes the user typed."""
    return os.fsencode(text)


def bad_args(message: str) -> CliError:
    return CliError(EXIT_BAD_ARGS, message)


def get_op(
    args: tuple[str, ...],
    consistency: str,
    order: str,
    sort_by: str,
    limit: int,
    prefix: bool,
    from_key: bool,
    rev: int,
    keys_only: bool,
    count_only: bool,
    print_value_only: bool = False,
) -> etcd3py.Get:
    """The read ``get`` makes (etcdctl's getGetOp, with its checks and messages)."""
    if not args:
        raise bad_args(
            "get command needs one argument as key and an optional argument as range_end"
        )
    if prefix and from_key:
        raise bad_args("`--prefix` and `--from-key` cannot be set at the same time, choose one")
    if keys_only and count_only:
        raise bad_args(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one"
        )
    if consistency not in ("l", "s"):
        raise CliError(EXIT_BAD_FEATURE, f'unknown consistency flag "{consistency}"')
    key = arg_bytes(args[0])
    range_end = None
    if len(args) > 1:
        if prefix or from_key:
            raise bad_args(
                "too many arguments, only accept one argument when `--prefix` or `--from-key`"
                " is set"
            )
        range_end = arg_bytes(args[1])
    if order.upper() not in SORT_ORDERS:
        raise CliError(EXIT_BAD_FEATURE, f"bad sort order {order}")
    if sort_by.upper() not in SORT_TARGETS:
        raise CliError(EXIT_BAD_FEATURE, f"bad sort target {sort_by}")
    sort_target, sort_order = SORT_TARGETS[sort_by.upper()], SORT_ORDERS[order.upper()]
    if sort_target == 0 and sort_order == 1:
        sort_order = 0  # clientv3.WithSort: ascending by key is the server's own order
    whole_from = (prefix or from_key) and not key
    return etcd3py.Get(
        b"\x00" if whole_from else key,
        prefix=prefix and not whole_from,
        from_key=from_key or whole_from,
        range_end=range_end,
        revision=max(rev, 0),
        limit=limit,
        sort_target=sort_target,
        sort_order=sort_order,
        serializable=consistency == "s",
        keys_only=keys_only,
        count_only=count_only,
    )


@root.command(
    "get",
    cls=EtcdCommand,
    use="get [options] <key> [range_end]",
    help="Gets the key or a range of keys",
)
@click.argument("args", nargs=-1)
@flag("--consistency", default="l", usage="Linearizable(l) or Serializable(s)")
@flag("--order", default="", usage="Order of results; ASCEND or DESCEND (ASCEND by default)")
@flag("--sort-by", default="", usage="Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION")
@flag("--limit", type=INT, default=0, usage="Maximum number of results")
@flag("--prefix", type=BOOL, default=False, usage="Get keys with matching prefix")
@flag(
    "--from-key",
    type=BOOL,
    default=False,
    usage="Get keys that are greater than or equal to the given key using byte compare",
)
@flag("--rev", type=INT, default=0, usage="Specify the kv revision")
@flag("--keys-only", type=BOOL, default=False, usage="Get only the keys")
@flag("--count-only", type=BOOL, default=False, usage="Get only the count")
@flag(
    "--print-value-only",
    type=BOOL,
    default=False,
    usage='Only write values when using the "simple" output format',
)
@pass_config
def get_command(
    config: Config,
    args: tuple[str, ...],
    print_value_only: bool,
    count_only: bool,
    **options: Any,
) -> None:
    op = get_op(args, count_only=count_only, **options)
    with config.client() as client:
        response = client.get(op.key, **op.options)
    display = config.printer()
    if count_only and not isinstance(display, FieldsPrinter):
        raise bad_args("--count-only is only for `--write-out=fields`")
    if print_value_only:
        if not isinstance(display, SimplePrinter):
            raise bad_args("print-value-only is only for `--write-out=simple`")
        display.value_only = True
    display.get(response)


PUT_LONG = """
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
"""


def parse_lease_id(text: str) -> int:
    """A lease id in hex as etcdctl takes it (Go's ParseInt base 16, int64)."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise bad_args(
            f"bad lease ID ({_parse_int_error(text, 'invalid syntax')}), expecting ID in Hex"
        )
    value = int(text, 16)
    if not -(1 << 63) <= value < 1 << 63:
        raise bad_args(
            f"bad lease ID ({_parse_int_error(text, 'value out of range')}), expecting ID in Hex"
        )
    return value


def _parse_int_error(text: str, reason: str) -> str:
    return f'strconv.ParseInt: parsing "{text}": {reason}'


def put_op(
    args: tuple[str, ...],
    lease: str,
    prev_kv: bool,
    ignore_value: bool,
    ignore_lease: bool,
    read_stdin: Callable[[], bytes] = lambda: sys.stdin.buffer.read(),
) -> etcd3py.Put:
    """The write ``put`` makes (etcdctl's getPutOp); the value may come from stdin."""
    usage_error = "put command needs 1 argument and input from stdin or 2 arguments"
    if not args:
        raise bad_args(usage_error)
    if ignore_value and len(args) > 1:
        raise bad_args("put command needs only 1 argument when 'ignore-value' is set")
    value = b""
    if not ignore_value:
        value = arg_bytes(args[1]) if len(args) > 1 else read_stdin()
        if len(args) < 2 and not value:
            raise bad_args(usage_error)
    lease_id = parse_lease_id(lease)
    return etcd3py.Put(
        arg_bytes(args[0]),
        value,
        lease=lease_id or None,
        prev_kv=prev_kv,
        ignore_value=ignore_value,
        ignore_lease=ignore_lease,
    )


@root.command(
    "put",
    cls=EtcdCommand,
    use="put [options] <key> <value> (<value> can also be given from stdin)",
    help="Puts the given key into the store",
    long=PUT_LONG,
)
@click.argument("args", nargs=-1)
@flag("--lease", default="0", usage="lease ID (in hexadecimal) to attach to the key")
@flag(
    "--prev-kv",
    type=BOOL,
    default=False,
    usage="return the previous key-value pair before modification",
)
@flag("--ignore-value", type=BOOL, default=False, usage="updates the key using its current value")
@flag("--ignore-lease", type=BOOL, default=False, usage="updates the key using its current lease")
@pass_config
def put_command(config: Config, args: tuple[str, ...], **options: Any) -> None:
    op = put_op(args, **options)
    with config.client() as client:
        response = client.put(
            op.key,
            op.value,
            lease=op.lease,
            prev_kv=op.prev_kv,
            ignore_value=op.ignore_value,
            ignore_lease=op.ignore_lease,
        )
    config.printer().put(response)


def delete_op(args: tuple[str, ...], prefix: bool, prev_kv: bool, from_key: bool) -> etcd3py.Delete:
    """The delete ``del`` makes (etcdctl's getDelOp, with its checks and messages)."""
    if not 1 <= len(args) <= 2:
        raise bad_args(
            "del command needs one argument as key and an optional argument as range_end"
        )
    if prefix and from_key:
        raise bad_args("`--prefix` and `--from-key` cannot be set at the same time, choose one")
    key = arg_bytes(args[0])
    range_end = None
    if len(args) > 1:
        if prefix or from_key:
            raise bad_args(
                "too many arguments, only accept one argument when `--prefix` or `--from-key`"
                " is set"
            )
        range_end = arg_bytes(args[1])
    whole_from = (prefix or from_key) and not key
    return etcd3py.Delete(
        b"\x00" if whole_from else key,
        prefix=prefix and not whole_from,
        from_key=from_key or whole_from,
        range_end=range_end,
        prev_kv=prev_kv,
    )


@root.command(
    "del",
    cls=EtcdCommand,
    use="del [options] <key> [range_end]",
    help="Removes the specified key or range of keys [key, range_end)",
)
@click.argument("args", nargs=-1)
@flag("--prefix", type=BOOL, default=False, usage="delete keys with matching prefix")
@flag("--prev-kv", type=BOOL, default=False, usage="return deleted key-value pairs")
@flag(
    "--from-key",
    type=BOOL,
    default=False,
    usage="delete keys that are greater than or equal to the given key using byte compare",
)
@pass_config
def del_command(config: Config, args: tuple[str, ...], **options: Any) -> None:
    op = delete_op(args, **options)
    with config.client() as client:
        response = client.delete(
            op.key,
            prefix=op.prefix,
            from_key=op.from_key,
            range_end=op.range_end,
            prev_kv=op.prev_kv,
        )
    config.printer().delete(response)


@root.command(
    "compaction",
    cls=EtcdCommand,
    use="compaction [options] <revision>",
    help="Compacts the event history in etcd",
)
@click.argument("args", nargs=-1)
@flag(
    "--physical",
    type=BOOL,
    default=False,
    usage="'true' to wait for compaction to physically remove all old revisions",
)
@pass_config
def compaction_command(config: Config, args: tuple[str, ...], physical: bool) -> None:
    if len(args) != 1:
        raise bad_args("compaction command needs 1 argument")
    revision = parse_int(args[0], EXIT_ERROR)
    with config.client() as client:
        client.compact(revision, physical=physical)
    line(f"compacted revision {revision}")


def parse_int(text: str, code: int) -> int:
    """Go's strconv.ParseInt(text, 10, 64), failing with its message and ``code``."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise CliError(code, _parse_int_error(text, "invalid syntax"))
    value = int(text)
    if not -(1 << 63) <= value < 1 << 63:
        raise CliError(code, _parse_int_error(text, "value out of range"))
    return value
