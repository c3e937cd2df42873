"""The command line's Go-format helpers (facts probed from etcdctl 3.5.1 and Go), and its
one rule of structure: it uses the public etcd3py API only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from etcd3py.cli.flags import format_go_duration, parse_go_duration
from etcd3py.cli.output.table import render
from etcd3py.cli.output.text import go_quote, hex_escaped
from etcd3py.cli.txn import argify, scan_compare
from etcd3py.cli.usage import tabwriter

CLI = Path(__file__).resolve().parents[2] / "etcd3py" / "cli"


def test_the_cli_imports_only_public_etcd3py() -> None:
    for path in CLI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith("etcd3py._"), f"{path}: {node.module}"
                if node.module == "etcd3py":
                    assert all(not a.name.startswith("_") for a in node.names), path
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("etcd3py._") for a in node.names), path
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                depth = len(path.relative_to(CLI).parts) - 1
                assert node.level <= depth + 1, f"{path} reaches above etcd3py.cli"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("1h", 3600.0), ("0", 0.0), ("1.5s", 1.5)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x", 'time: invalid duration "x"'),
        ("5", 'time: missing unit in duration "5"'),
        ("5x", 'time: unknown unit "x" in duration "5x"'),
        ("", 'time: invalid duration ""'),
    ],
)
def test_bad_go_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_go_duration(text)
    assert str(caught.value) == message


def test_durations_shown_as_go_shows_them() -> None:
    assert [format_go_duration(s) for s in (2.0, 5.0, 0.5, 90.0, 0.0)] == [
        "2s",
        "5s",
        "500ms",
        "1m30s",
        "0s",
    ]


def test_go_quote() -> None:
    assert go_quote(b'a"b\\c\n\t\x01\x7f\xff') == '"a\\"b\\\\c\\n\\t\\x01\\u007f\\xff"'
    assert go_quote("é ü 日本".encode()) == '"é ü 日本"'
    assert hex_escaped(b"ab") == b"\\x61\\x62"


def test_table_as_tablewriter_draws_it() -> None:
    header = ["endpoint", "hash"]
    assert render(header, [["127.0.0.1:23791", "3287581312"]]) == [
        "+-----------------+------------+",
        "|    ENDPOINT     |    HASH    |",
        "+-----------------+------------+",
        "| 127.0.0.1:23791 | 3287581312 |",
        "+-----------------+------------+",
    ]


def test_tabwriter_pads_a_run_of_lines_to_its_widest_cell() -> None:
    # widest cell 21 + padding 1 -> 24 columns (tab stops of 8): 9 columns need 2 tabs
    text = "  -a, --alphabet-soup\tfirst\n      --b\tsecond\n\nX\tY\n"
    expected = "  -a, --alphabet-soup\tfirst\n      --b\t\tsecond\n\nX\tY\n"
    assert tabwriter(text) == expected


def test_argify_keeps_etcdctls_quirks() -> None:
    assert argify('put k "a b\\n"') == ["put", "k", "a b\n"]
    # a single-quoted word is cut by the number of words, as etcdctl's args[i][1:len(args)-1]
    assert argify("put k 'hello'") == ["put", "k", "h"]


def test_scan_compare_counts_what_it_read() -> None:
    assert scan_compare('"k") = "v"') == (3, b"k", "=", b"v")
    assert scan_compare('"k" = "v"') == (1, b"k", "", b"")
    assert scan_compare('k) = "v"') == (0, b"", "", b"")
    assert scan_compare('"k") = v') == (2, b"k", "=", b"")
