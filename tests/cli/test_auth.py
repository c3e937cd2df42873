"""auth, user and role through etcdctl 3.5.1 and ``etcd3py``, on a server of their own
(authentication is server-wide). Each tool works on its own user and role names (``{t}``:
``ctl`` or ``our``), which the comparison names back to ``{t}``."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest

from tests.cli.ops_support import Pair, own_server_fixture
from tests.conftest import BACKENDS

FORMATS = ["simple", "json", "fields", "protobuf", "table"]


@pytest.fixture(scope="module", params=BACKENDS)
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    yield from own_server_fixture(request, tmp_path_factory)


Step = tuple[tuple[str, ...], bytes | None]


def decoded_keys(stdout: bytes) -> bytes:
    """JSON's base64 keys as text, so that the tool's tag in them can be named back."""
    lines = []
    for text in stdout.split(b"\n"):
        if text.startswith(b"{"):
            data = json.loads(text)
            for perm in data.get("perm", []):
                for name in ("key", "range_end"):
                    if name in perm:
                        perm[name] = base64.b64decode(perm[name]).decode()
            text = json.dumps(data).encode()
        lines.append(text)
    return b"\n".join(lines)


def transcript(pair: Pair, ours: bool, steps: list[Step]) -> list[tuple[bytes, bytes, int]]:
    tag = "our" if ours else "ctl"
    out = []
    for args, stdin in steps:
        run = pair.run(ours, *(a.replace("{t}", tag) for a in args), stdin=stdin)
        stdout, stderr, code = pair.view(run)
        stdout = decoded_keys(stdout)
        # speakeasy runs stty, which complains without a terminal: not etcdctl's own output
        stderr = re.sub(rb"stty: [^\n]*\n", b"", stderr)
        out.append(
            (stdout.replace(tag.encode(), b"{t}"), stderr.replace(tag.encode(), b"{t}"), code)
        )
    return out


def same(pair: Pair, *steps: Step) -> None:
    """The steps through etcdctl, then through ours: the same transcripts."""
    expected = transcript(pair, False, list(steps))
    assert transcript(pair, True, list(steps)) == expected


def cmd(*args: str) -> Step:
    return args, None


@pytest.mark.parametrize("fmt", FORMATS)
def test_users_and_roles(pair: Pair, fmt: str) -> None:
    w = ("-w", fmt)
    same(
        pair,
        cmd("role", "add", "r-{t}", *w),
        cmd("role", "add", "r-{t}", *w),
        cmd("role", "grant-permission", "r-{t}", "readwrite", "k-{t}", *w),
        cmd("role", "grant-permission", "r-{t}", "read", "p-{t}/", "--prefix", *w),
        cmd("role", "grant-permission", "r-{t}", "write", "f-{t}", "--from-key", *w),
        cmd("role", "grant-permission", "r-{t}", "Write", "a-{t}", "z-{t}", *w),
        cmd("role", "grant-permission", "r-{t}", "read", "", "--prefix", *w),
        cmd("role", "get", "r-{t}", *w),
        cmd("role", "get", "nobody-{t}", *w),
        cmd("user", "add", "u-{t}:pw", *w),
        cmd("user", "add", "v-{t}", "--new-user-password=pw", *w),
        cmd("user", "add", "c-{t}", "--no-password", *w),
        cmd("user", "grant-role", "u-{t}", "r-{t}", *w),
        cmd("user", "grant-role", "u-{t}", "nobody-{t}", *w),
        cmd("user", "get", "u-{t}", *w),
        cmd("user", "get", "u-{t}", "--detail", *w),
        cmd("user", "get", "nobody-{t}", *w),
        cmd("role", "revoke-permission", "r-{t}", "k-{t}", *w),
        cmd("role", "revoke-permission", "r-{t}", "p-{t}/", "--prefix", *w),
        cmd("role", "revoke-permission", "r-{t}", "f-{t}", "--from-key", *w),
        cmd("role", "revoke-permission", "r-{t}", "a-{t}", "z-{t}", *w),
        cmd("role", "revoke-permission", "r-{t}", "a-{t}", "z-{t}", *w),
        cmd("user", "revoke-role", "u-{t}", "r-{t}", *w),
        cmd("user", "passwd", "u-{t}", "--interactive=false", *w),
        cmd("user", "delete", "u-{t}", *w),
        cmd("user", "delete", "v-{t}", *w),
        cmd("user", "delete", "c-{t}", *w),
        cmd("user", "delete", "u-{t}", *w),
        cmd("role", "delete", "r-{t}", *w),
        cmd("role", "delete", "r-{t}", *w),
    )


def test_lists(pair: Pair) -> None:
    for fmt in FORMATS:  # both tools on the same users and roles
        pair.both("user", "list", "-w", fmt)
        pair.both("role", "list", "-w", fmt)


def test_passwords_from_stdin(pair: Pair) -> None:
    same(
        pair,
        (("user", "add", "i-{t}"), b"pw\npw\n"),
        (("user", "add", "j-{t}"), b"pw\nother\n"),
        (("user", "add", "k-{t}"), b"\n"),
        (("user", "add", "n-{t}", "--interactive=false"), b"secret words\n"),
        (("user", "passwd", "i-{t}"), b"new\nnew\n"),
        (("user", "passwd", "i-{t}", "--interactive=false"), b"newer\n"),
        cmd("user", "delete", "i-{t}"),
        cmd("user", "delete", "n-{t}"),
    )


def test_auth_enable_and_disable(pair: Pair) -> None:
    root = "--user=root:rootpw"
    for tool_is_ours in (False, True):
        runs = [
            pair.run(tool_is_ours, "auth", "enable"),  # no root user yet
            pair.run(tool_is_ours, "user", "add", "root:rootpw"),
            pair.run(tool_is_ours, "auth", "enable"),  # gives root the root role first
            pair.run(tool_is_ours, "user", "list"),  # no credentials
            pair.run(tool_is_ours, "user", "list", root),
            pair.run(tool_is_ours, "role", "get", "root", root),
            pair.run(tool_is_ours, "auth", "disable", root),
            pair.run(tool_is_ours, "user", "delete", "root"),
            pair.run(tool_is_ours, "role", "delete", "root"),
        ]
        views = [pair.view(run) for run in runs]
        if not tool_is_ours:
            expected = views
    assert views == expected


def test_auth_status(pair: Pair) -> None:
    """The auth revision is not in the public API: only the first line compares."""
    theirs = pair.run(False, "auth", "status")
    ours = pair.run(True, "auth", "status")
    assert (
        ours.stdout.splitlines()[0]
        == theirs.stdout.splitlines()[0]
        == b"Authentication Status: false"
    )
    assert ours.stdout.splitlines()[1] == b"AuthRevision: unknown"
    for fmt in ("fields", "table"):
        pair.both("auth", "status", "-w", fmt)


@pytest.mark.parametrize(
    "args",
    [
        ["auth"],
        ["auth", "enable", "x"],
        ["auth", "disable", "x"],
        ["auth", "status", "x"],
        ["user"],
        ["user", "add"],
        ["user", "add", ":pw"],
        ["user", "delete"],
        ["user", "get"],
        ["user", "list", "x"],
        ["user", "passwd"],
        ["user", "grant-role", "a"],
        ["user", "revoke-role", "a"],
        ["role"],
        ["role", "add"],
        ["role", "delete"],
        ["role", "get"],
        ["role", "list", "x"],
        ["role", "grant-permission", "r", "read"],
        ["role", "grant-permission", "r", "bogus", "k"],
        ["role", "grant-permission", "r", "read", "k", "--prefix", "--from-key"],
        ["role", "grant-permission", "r", "read", "k", "l", "--prefix"],
        ["role", "grant-permission", "r", "read", "k", "l", "--from-key"],
        ["role", "grant-permission", "r", "read", "", "--prefix", "--from-key"],
        ["role", "revoke-permission", "r"],
    ],
    ids=" ".join,
)
def test_bad_input(pair: Pair, args: list[str]) -> None:
    pair.both(*args)
