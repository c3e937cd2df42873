"""get and put through etcdctl 3.5.1 and ``etcd3py``: the same output, errors and exit codes."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Differ
from tests.support.cli_diff import Scenario

FORMATS = ["simple", "json", "fields", "table"]  # protobuf: raw revisions, see below


def fill(s: Scenario) -> None:
    s.run("put", "{p}a", "1")
    s.run("put", "{p}b", "two words")
    s.run("put", "{p}c", "-", "--prev-kv")
    s.run("put", "{p}c", stdin=b"from\nstdin\n")


@pytest.mark.parametrize("fmt", FORMATS)
def test_put_and_get_in_every_format(differ: Differ, fmt: str) -> None:
    def steps(s: Scenario) -> None:
        s.run("put", "{p}a", "1", "-w", fmt)
        s.run("put", "{p}a", "2", "--prev-kv", f"--write-out={fmt}")
        s.run("get", "{p}a", "-w", fmt)
        s.run("get", "{p}", "--prefix", "-w", fmt)
        s.run("get", "{p}nothing", "-w", fmt)

    differ.scenario(steps)


@pytest.mark.parametrize("fmt", [*FORMATS, "protobuf"])
def test_reads_on_the_same_data_are_byte_identical(differ: Differ, fmt: str) -> None:
    Scenario(differ.endpoint, differ.prefix.decode(), ours=True).start()
    differ.same("put", "{p}x", "1")  # etcdctl's put, then ours: both print "OK"
    differ.same("get", "{p}", "--prefix", "-w", fmt)
    differ.same("get", "{p}x", "{p}z", "--keys-only", "-w", fmt)
    differ.same("get", "{p}none", "-w", fmt)
    differ.same("get", "{p}x", "--hex", "-w", fmt)


def test_get_options(differ: Differ) -> None:
    def steps(s: Scenario) -> None:
        fill(s)
        s.run("get", "{p}", "--prefix", "--keys-only")
        s.run("get", "{p}", "--prefix", "--print-value-only")
        s.run("get", "{p}a", "{p}c")
        s.run("get", "{p}", "--prefix", "--limit=2", "-w", "fields")
        s.run("get", "{p}", "--prefix", "--sort-by=VALUE", "--order=descend")
        s.run("get", "{p}", "--prefix", "--sort-by=modify", "--order", "ASCEND", "-w", "json")
        s.run("get", "{p}", "--prefix", "--count-only", "-w", "fields")
        s.run("get", "{p}b", "--consistency=s")
        s.run("get", "{p}a", "--rev", "0")
        s.run("get", "{p}b", "--from-key", "--keys-only", "--limit", "1")
        s.run("put", "{p}c", "--ignore-value", "--prev-kv", "-w", "fields")
        s.run("put", "{p}neg", "--", "-v")  # a value starting with "-", after "--"
        s.run("get", "--", "{p}neg")

    differ.scenario(steps)


def test_bytes_and_quoting(differ: Differ) -> None:
    def steps(s: Scenario) -> None:
        s.run("put", "{p}q", stdin='tab\there "quoted" \\ é \x01 \x7f'.encode() + b"\xff\xfe")
        s.run("get", "{p}q", "-w", "fields")
        s.run("get", "{p}q", "-w", "json")
        s.run("get", "{p}q")

    differ.scenario(steps)


@pytest.mark.parametrize(
    "args",
    [
        ["get"],
        ["put"],
        ["put", "{p}k"],
        ["put", "{p}k", "v", "--lease=zz"],
        ["put", "{p}k", "v", "--ignore-value"],
        ["get", "{p}k", "--prefix", "--from-key"],
        ["get", "{p}k", "--keys-only", "--count-only"],
        ["get", "{p}k", "{p}z", "--prefix"],
        ["get", "{p}k", "--consistency=x"],
        ["get", "{p}k", "--order=up"],
        ["get", "{p}k", "--sort-by=size"],
        ["get", "{p}k", "-w", "yaml"],
        ["get", "{p}k", "--bogus"],
        ["get", "{p}k", "-x"],
        ["get", "{p}k", "--limit"],
        ["get", "{p}k", "--limit=x"],
        ["get", "{p}k", "--prefix=maybe"],
        ["get", "{p}k", "--command-timeout=x"],
        ["bogus"],
        ["get", "--help"],
        ["put", "-h"],
    ],
    ids=lambda a: " ".join(a),
)
def test_bad_input_refused_before_connecting(offline: Differ, args: list[str]) -> None:
    offline.same(*args)


@pytest.mark.parametrize(
    "args",
    [
        ["get", "{p}k", "--count-only"],
        ["get", "{p}k", "--print-value-only", "-w", "json"],
        ["get", "{p}k", "-w", "table"],
        ["get", "{p}k", "--command-timeout=5"],
    ],
    ids=lambda a: " ".join(a),
)
def test_bad_input_refused_after_the_request(differ: Differ, args: list[str]) -> None:
    differ.scenario(lambda s: s.run(*args))


def test_global_flags_after_the_command_and_prefix_matching(differ: Differ) -> None:
    def steps(s: Scenario) -> None:
        s.run("put", "{p}g", "v", "--write-out=json", "--hex=false")
        s.run("ge", "{p}g", "-w", "fields", "--insecure-transport=true", "--dial-timeout=3s")
        s.run("get", "{p}g", "-w=json")
        s.run("get", "{p}g", "-wfields")
        s.run("get", "{p}g", "--write-out", "json", "--print-value-only=false")
        s.run("txn", "-i=false", stdin=b"\n\nget {p}g\n\n")

    differ.scenario(steps)
