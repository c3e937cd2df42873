"""txn, del, compaction and version through etcdctl 3.5.1 and ``etcd3py``."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Differ
from tests.support.cli_diff import Scenario

TXN = b"""mod("{p}a") > "0"
val("{p}b") = "two"
ver("{p}a") != "7"
create("{p}c") < "100000000"

put {p}a "x y" --prev-kv
get {p}b
del {p}c --prev-kv
put {p}d 'quoted'

get {p}a

"""


@pytest.mark.parametrize("fmt", ["simple", "json", "fields"])
def test_txn_success_and_failure(differ: Differ, fmt: str) -> None:
    def steps(s: Scenario) -> None:
        s.run("put", "{p}a", "1")
        s.run("put", "{p}b", "two")
        s.run("put", "{p}c", "3")
        s.run("txn", "-w", fmt, stdin=TXN)
        s.run("txn", "-w", fmt, stdin=TXN)  # {p}c is gone: the failure branch
        s.run("get", "{p}", "--prefix", "-w", fmt)

    differ.scenario(steps)


def test_txn_interactive_prompts_and_empty_branches(differ: Differ) -> None:
    def steps(s: Scenario) -> None:
        s.run("txn", "-i", stdin=b"\n\n\n")
        s.run("txn", "--interactive", stdin=b'val("{p}k") = ""\n\nput {p}k v\n\nput {p}k w\n\n')
        s.run("get", "{p}k")

    differ.scenario(steps)


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"\n\nput k v",
        b"bad\n",
        b'val("k" = "x"\n',
        b'val(k) = "x"\n',
        b'val("k") = x\n',
        b'ver("k") = "x"\n',
        b'xx("k") = "x"\n',
        b"\nget\n",
        b"\nfrob k\n",
        b"\nget k --prefix --from-key\n\n\n",
        b"\nput k\n\n\n",
        b"\nget k --bogus\n\n\n",
        b"\nput k --lease\n\n\n",
        b"\ndel k --prefix=x\n\n\n",
        b"\nget k --limit=x\n\n\n",
    ],
    ids=repr,
)
def test_txn_bad_input(differ: Differ, stdin: bytes) -> None:
    differ.scenario(lambda s: s.run("txn", stdin=stdin))


def test_txn_takes_no_arguments(differ: Differ) -> None:
    differ.scenario(lambda s: s.run("txn", "x", stdin=b"\n\n\n"))


@pytest.mark.parametrize("fmt", ["simple", "json", "fields", "table"])
def test_del(differ: Differ, fmt: str) -> None:
    def steps(s: Scenario) -> None:
        for key in "abcde":
            s.run("put", f"{{p}}{key}", key * 2)
        s.run("del", "{p}a", "-w", fmt)
        s.run("del", "{p}b", "--prev-kv", "-w", fmt)
        s.run("del", "{p}c", "{p}d", "--prev-kv", "-w", fmt)
        s.run("del", "{p}", "--prefix", "-w", fmt)
        s.run("del", "{p}nothing", "-w", fmt)

    differ.scenario(steps)


@pytest.mark.parametrize(
    "args",
    [
        ["del"],
        ["del", "a", "b", "c"],
        ["del", "a", "--prefix", "--from-key"],
        ["del", "a", "b", "--prefix"],
    ],
    ids=" ".join,
)
def test_del_bad_arguments(differ: Differ, args: list[str]) -> None:
    differ.scenario(lambda s: s.run(*args))


def test_compaction(differ: Differ) -> None:
    def steps(s: Scenario) -> None:
        s.run("put", "{p}k", "1")
        s.run("compaction", "{rev+1}")
        s.run("compaction", "{rev+1}", "--physical")  # already compacted
        s.run("compaction", "{rev+1000000}")  # a future revision
        s.run("get", "{p}k", "--rev", "{rev+0}")
        s.run("compaction")
        s.run("compaction", "x")
        s.run("compaction", "1", "2")

    differ.scenario(steps)


def test_version(differ: Differ) -> None:
    differ.same("version")
    differ.same("version", "extra", "args")
