"""make-mirror through etcdctl 3.5.1 and ``etcd3py``: from the test's backend to a fresh
server_ref, the keys as they were and then every change, for each destination-prefix
mode; stopped with Ctrl-C."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from etcd3py import Client, Put
from etcd3py.cli.errors import EXIT_BAD_ARGS
from etcd3py.cli.mirror import REPORTER
from etcd3py.server_ref import EmbeddedServer
from tests.cli.conftest import Differ
from tests.support.cli_diff import TIMEOUT, Streaming, prefixes, run_ours

FINAL = [b"2", b"3", b"4", b"5"]  # the values of b, c, d, e: every change has arrived


@pytest.fixture
def destination() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as server:
        yield server


def contents(client: Client) -> dict[bytes, bytes]:
    return {kv.key: kv.value for kv in client.get(b"\x00", from_key=True).kvs}


def wait_until(check: object, describe: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {describe}")
        time.sleep(0.02)


def mirrored(differ: Differ, destination: EmbeddedServer, flags: list[str]) -> list[str]:
    """Each tool mirrors its own prefix; what each printed and left in the destination
    (keys with the tool's prefixes replaced by placeholders)."""
    transcripts = []
    with Client(differ.endpoint) as source, Client(destination.endpoint) as dest:
        for ours, prefix in zip((False, True), prefixes(differ.prefix), strict=True):
            dest.delete(b"\x00", from_key=True)
            source.put(prefix + "a", "1")
            source.put(prefix + "b", "2")
            args = ["make-mirror", f"--prefix={prefix}", *(f.replace("{p}", prefix) for f in flags)]
            stream = Streaming(ours, differ.endpoint, [*args, destination.endpoint])
            wait_until(lambda: len(contents(dest)) == 2, "the base keys")
            source.put(prefix + "c", "3")
            source.delete(prefix + "a")
            source.txn(compare=[], success=[Put(prefix + "d", "4"), Put(prefix + "e", "5")])
            wait_until(lambda: sorted(contents(dest).values()) == FINAL, "the changes")
            result = stream.finish()
            keys = sorted(
                (k.decode().replace(prefix, "<p>/").replace(prefix.strip("/"), "<p>"), v)
                for k, v in contents(dest).items()
            )
            transcripts.append(f"{result.stdout!r} {result.stderr!r} rc={result.code} {keys}")
    assert transcripts[1] == transcripts[0]
    return transcripts


@pytest.mark.parametrize(
    "flags",
    [[], ["--dest-prefix={p}copy/"], ["--no-dest-prefix"]],
    ids=["same-prefix", "dest-prefix", "no-dest-prefix"],
)
def test_make_mirror(differ: Differ, destination: EmbeddedServer, flags: list[str]) -> None:
    transcript = mirrored(differ, destination, flags)
    assert "rc=-2" in transcript[0]


def test_make_mirror_prints_the_count() -> None:
    """Ours prints the number of keys synced every 30 s as etcdctl; here every 0.2 s."""
    with (
        EmbeddedServer() as destination,
        EmbeddedServer() as source_server,
        Client(source_server.endpoint) as source,
    ):
        source.put("k1", "1")
        source.put("k2", "2")
        stream = Streaming(
            True,
            source_server.endpoint,
            ["make-mirror", destination.endpoint],
            env={"ETCD3PY_MIRROR_REPORT_SECONDS": "0.2"},
        )
        stream.wait_for(b"2\n")
        source.delete("k1")
        stream.wait_for(b"3\n")
        assert stream.finish().code == -2


@pytest.mark.parametrize(
    "args",
    [
        ["make-mirror"],
        ["make-mirror", "a", "b"],
        ["make-mirror", "x:1", "--dest-prefix=a", "--no-dest-prefix"],
    ],
    ids=" ".join,
)
def test_make_mirror_bad_arguments(differ: Differ, args: list[str]) -> None:
    differ.scenario(lambda s: s.run(*args))


def test_an_ended_make_mirror_leaves_no_reporter(differ: Differ) -> None:
    """Run in-process, a make-mirror that ended (here on its flags, after connecting)
    stops the thread that prints its count every 30 s: one left behind printed "0"
    into a later test's captured output."""
    result = run_ours(
        differ.endpoint, ["make-mirror", "x:1", "--dest-prefix=a", "--no-dest-prefix"]
    )
    assert result.code == EXIT_BAD_ARGS
    for thread in threading.enumerate():
        if thread.name == REPORTER:
            thread.join(5)
            assert not thread.is_alive(), "the count reporter outlived its command"
