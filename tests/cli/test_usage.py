"""Help, usage, environment variables and the protobuf format of del/txn, against etcdctl."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Differ
from tests.support.cli_diff import Scenario, run_etcdctl, run_ours


@pytest.mark.parametrize(
    "args",
    [
        ["help", "get"],
        ["help", "lease", "grant"],
        ["help", "lease"],
        ["help", "--help"],
        ["watch", "-h"],
        ["txn", "--help"],
        ["lease", "timetolive", "--help"],
        ["make-mirror", "--help=true"],
        ["del", "--help=false", "--prefix=maybe"],
    ],
    ids=" ".join,
)
def test_help(offline: Differ, args: list[str]) -> None:
    offline.same(*args)


def test_root_usage_matches_for_the_commands_we_have(offline: Differ) -> None:
    """The root's usage lists every command etcdctl has, and ``benchmark`` (etcd's
    benchmark tool) besides: the COMMANDS block is compared line by line (its tabs
    depend on the longest name) and everything else byte for byte."""
    theirs = run_etcdctl(offline.endpoint, []).stdout.decode()
    ours = run_ours(offline.endpoint, []).stdout.decode()
    head_t, commands_t, tail_t = split_commands(theirs)
    head_o, commands_o, tail_o = split_commands(ours)
    assert (head_o, tail_o) == (head_t, tail_t)
    ours_only = [c for c in commands_o if c not in commands_t]
    assert [c for c in commands_t if c not in commands_o] == []
    assert ours_only == ["benchmark etcd's benchmark tool (etcd3py benchmark --help)"]
    assert "get Gets the key or a range of keys" in commands_o


def split_commands(usage: str) -> tuple[str, list[str], str]:
    head, _, rest = usage.partition("COMMANDS:\n")
    block, _, tail = rest.partition("\n\n")
    return head, [" ".join(line.split()) for line in block.splitlines()], tail


def test_unknown_help_topic(offline: Differ) -> None:
    theirs = run_etcdctl(offline.endpoint, ["help", "nosuch"])
    ours = run_ours(offline.endpoint, ["help", "nosuch"])
    assert (ours.stderr, ours.code) == (theirs.stderr, theirs.code)
    assert ours.stdout == run_ours(offline.endpoint, []).stdout


def test_environment_variables(differ: Differ) -> None:
    Scenario(differ.endpoint, differ.prefix.decode(), ours=True).start()
    differ.same("put", "{p}e", "v")
    differ.same("get", "{p}e", env={"ETCDCTL_WRITE_OUT": "fields"})
    differ.same("get", "{p}e", "-w", "json", env={"ETCDCTL_WRITE_OUT": "fields"})
    differ.same("get", "{p}e", env={"ETCDCTL_HEX": "true", "ETCDCTL_WRITE_OUT": "simple"})
    differ.same("get", "{p}e", env={"ETCDCTL_COMMAND_TIMEOUT": "nonsense"})
    differ.same("get", "{p}e", env={"ETCDCTL_DIAL_TIMEOUT": "3s", "ETCDCTL_PREFIX": "true"})


def test_protobuf_of_del_and_txn(differ: Differ) -> None:
    Scenario(differ.endpoint, differ.prefix.decode(), ours=True).start()
    differ.same("put", "{p}x", "1")
    differ.same("del", "{p}nothing", "-w", "protobuf")
    txn = b'val("{p}x") = "1"\n\nget {p}x\nget {p} --prefix --keys-only\n\nget {p}y\n\n'
    differ.same("txn", "-w", "protobuf", stdin=txn.replace(b"{p}", differ.prefix))
    differ.same("txn", "-w", "table", stdin=txn.replace(b"{p}", differ.prefix))
