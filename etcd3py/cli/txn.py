"""``txn``: a transaction read from standard input (or typed at etcdctl's prompts).

The input is etcdctl's: comparisons one per line, a blank line, the success requests
(``get``/``put``/``del`` command lines), a blank line, the failure requests, a blank line.
Each request line is parsed by the same command as on the command line (its flags,
checks and messages), as etcdctl does.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any

import click

import etcd3py

from . import kv, usage
from .app import GLOBAL_NAMES, Config, EtcdCommand, pass_config, root
from .errors import EXIT_BAD_ARGS, EXIT_INVALID_INPUT, CliError
from .flags import BOOL, flag
from .output.stream import line
from .output.text import go_quote

Operation = etcd3py.Get | etcd3py.Put | etcd3py.Delete

# etcdctl's tokeniser for request lines: "double quoted", 'single quoted', or bare words
_ARG = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?""")
_OPS = {"=": "__eq__", "!=": "__ne__", ">": "__gt__", "<": "__lt__"}
_TARGETS: dict[str, type[Any]] = {
    "ver": etcd3py.Version,
    "version": etcd3py.Version,
    "c": etcd3py.CreateRevision,
    "create": etcd3py.CreateRevision,
    "m": etcd3py.ModRevision,
    "mod": etcd3py.ModRevision,
    "val": etcd3py.Value,
    "value": etcd3py.Value,
    "lease": etcd3py.LeaseId,
}


def invalid(message: str) -> CliError:
    return CliError(EXIT_INVALID_INPUT, message)


def read_line(stdin: Any) -> bytes:
    """One line, stripped; etcdctl's ``EOF`` error when input ends before a newline."""
    raw = stdin.readline()
    if not raw.endswith(b"\n"):
        raise invalid("EOF")
    return bytes(raw.strip())


def read_block(stdin: Any, parse: Callable[[str], Any]) -> list[Any]:
    """Lines up to a blank one, each parsed."""
    items: list[Any] = []
    while True:
        text = read_line(stdin)
        if not text:
            return items
        items.append(parse(text.decode("utf-8", "surrogateescape")))


# ---- comparisons: target("key") op "value" ----


def _scan_quoted(text: str, pos: int) -> tuple[bytes, int] | None:
    """Go's ``%q`` scan: spaces skipped, then a double- or back-quoted string."""
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if text[pos : pos + 1] == "`":
        end = text.find("`", pos + 1)
        return None if end < 0 else (text[pos + 1 : end].encode(), end + 1)
    match = re.compile(r'"((?:[^"\\]|\\.)*)"').match(text, pos)
    if match is None:
        return None
    decoded = go_unquote(match.group(1))
    return None if decoded is None else (decoded, match.end())


_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}


def go_unquote(body: str) -> bytes | None:
    """The bytes of a Go double-quoted string's body; None if an escape is invalid."""
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        kind = body[i + 1 : i + 2]
        if kind in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[kind])
            i += 2
        elif kind in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[kind]
            digits = body[i + 2 : i + 2 + size]
            if len(digits) != size or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                return None
            value = int(digits, 16)
            out += bytes([value]) if kind == "x" else chr(value).encode()
            i += 2 + size
        elif re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            return None
    return bytes(out)


def scan_compare(rest: str) -> tuple[int, bytes, str, bytes]:
    """Go's ``Sscanf(rest, "%q) %s %q", &key, &op, &val)``: how many matched, and them."""
    key, op, val = b"", "", b""
    scanned = _scan_quoted(rest, 0)
    if scanned is None:
        return 0, key, op, val
    key, pos = scanned
    if rest[pos : pos + 1] != ")":
        return 1, key, op, val
    token = re.compile(r"\s*(\S+)").match(rest, pos + 1)
    if token is None:
        return 1, key, op, val
    op = token.group(1)
    scanned = _scan_quoted(rest, token.end())
    if scanned is None:
        return 2, key, op, val
    return 3, key, op, scanned[0]


def parse_compare(text: str) -> etcd3py.Compare:
    """One comparison line, with etcdctl's messages for malformed ones."""
    target, paren, rest = text.partition("(")
    if not paren:
        raise invalid(f"malformed comparison: {text}")
    count, key, op, val = scan_compare(rest)
    if count != 3:
        shown = f"{target}({go_quote(key)}) {op} {go_quote(val)}"
        raise invalid(f"malformed comparison: {text}; got {shown}")
    kind = _TARGETS.get(target)
    if kind is None:
        raise invalid(f"malformed comparison: {text} (unknown target {target})")
    if op not in _OPS:  # etcdctl panics here ("Unknown result op"); we say what is wrong
        raise invalid(f"malformed comparison: {text} (unknown op {op})")
    operand: bytes | int = val
    if kind is not etcd3py.Value:
        if not re.fullmatch(rb"[+-]?[0-9]+", val):
            raise invalid(f"invalid txn compare request: {text}")
        operand = int(val)
    compare: etcd3py.Compare = getattr(kind(key), _OPS[op])(operand)
    return compare


# ---- requests: get/put/del command lines ----


def argify(text: str) -> list[str]:
    """etcdctl's split of a request line, quirks included: a single-quoted word is cut by
    the number of words (``args[i][1:len(args)-1]`` in etcdctl), as etcdctl cuts it."""
    args = _ARG.findall(text)
    for i, arg in enumerate(args):
        if arg.startswith("'"):
            args[i] = arg[1 : len(args) - 1]
        elif arg.startswith('"'):
            decoded = go_unquote(arg[1:-1])
            if decoded is None:
                raise invalid("invalid syntax")
            args[i] = decoded.decode("utf-8", "surrogateescape")
    return args


REQUESTS: dict[str, tuple[click.Command, Callable[..., Operation]]] = {
    "get": (kv.get_command, kv.get_op),
    # etcdctl's reader has buffered the input already: a put without a value reads nothing
    "put": (kv.put_command, functools.partial(kv.put_op, read_stdin=lambda: b"")),
    "del": (kv.del_command, kv.delete_op),
}


def parse_request(text: str) -> Operation:
    """One request line, parsed by the command it names (cobra's prefix matching too)."""
    args = argify(text)
    if len(args) < 2:
        raise invalid(f"invalid txn compare request: {text}")
    names = [n for n in REQUESTS if n == args[0]] or [n for n in REQUESTS if n.startswith(args[0])]
    if len(names) != 1 or any(a in ("-h", "--help") for a in args[1:]):
        raise invalid(f"invalid txn request: {text}")
    command, build = REQUESTS[names[0]]
    try:
        ctx = command.make_context(names[0], args[1:])
    except click.ClickException:  # a bad flag: cobra shows its usage on stderr first
        sys.stderr.write(usage.cobra_default_usage(command, names[0]))
        raise invalid(f"invalid txn request: {text}") from None
    if any(
        ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE for n in GLOBAL_NAMES
    ):
        raise invalid(f"invalid txn request: {text}")  # a request line has no global flags
    options = {k: v for k, v in ctx.params.items() if k not in GLOBAL_NAMES and k != "help"}
    return build(**options)


@root.command(
    "txn",
    cls=EtcdCommand,
    use="txn [options]",
    help="Txn processes all the requests in one transaction",
)
@click.argument("args", nargs=-1)
@flag(
    "-i", "--interactive", type=BOOL, default=False, usage="Input transaction in interactive mode"
)
@pass_config
def txn_command(config: Config, args: tuple[str, ...], interactive: bool) -> None:
    if args:
        raise CliError(EXIT_BAD_ARGS, "txn command does not accept argument")
    display = config.printer()
    stdin = sys.stdin.buffer

    def prompt(text: str) -> None:
        if interactive:
            line(text)

    with config.client() as client:
        prompt("compares:")
        compares = read_block(stdin, parse_compare)
        prompt("success requests (get, put, del):")
        success = read_block(stdin, parse_request)
        prompt("failure requests (get, put, del):")
        failure = read_block(stdin, parse_request)
        response = client.txn(compare=compares, success=success, failure=failure)
    display.txn(response)
