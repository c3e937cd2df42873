"""The report's text, checked line by line against etcd's format (pkg/report)."""

from __future__ import annotations

import pytest

from etcd3py.cli.benchmark.keys import varint_key
from etcd3py.cli.benchmark.report import Report
from etcd3py.cli.gofmt import go_duration, go_g, go_humanize_bytes, parse_go_duration

BAR = "∎" * 40


def ten_requests(**options: bool) -> Report:
    """Requests of 1, 2, ... 10 ms and one failure, over a run of 0.5 s."""
    report = Report(**options)
    for ms in range(1, 11):
        report.add(100.0, 100.0 + ms / 1000)
    report.add(100.0, 100.5, RuntimeError("boom"))
    report.total = 0.5
    return report


def test_report_reads_as_etcds() -> None:
    assert ten_requests().text() == (
        "\nSummary:\n"
        "  Total:\t0.5000 secs.\n"
        "  Slowest:\t0.0100 secs.\n"
        "  Fastest:\t0.0010 secs.\n"
        "  Average:\t0.0055 secs.\n"
        "  Stddev:\t0.0029 secs.\n"
        "  Requests/sec:\t20.0000\n"
        "\nResponse time histogram:\n"
        f"  0.0010 [1]\t|{BAR}\n"
        "  0.0019 [0]\t|\n"
        f"  0.0028 [1]\t|{BAR}\n"
        f"  0.0037 [1]\t|{BAR}\n"
        f"  0.0046 [1]\t|{BAR}\n"
        f"  0.0055 [1]\t|{BAR}\n"
        f"  0.0064 [1]\t|{BAR}\n"
        f"  0.0073 [1]\t|{BAR}\n"
        f"  0.0082 [1]\t|{BAR}\n"
        f"  0.0091 [1]\t|{BAR}\n"
        f"  0.0100 [1]\t|{BAR}\n"
        "\nLatency distribution:\n"
        "  10% in 0.0020 secs.\n"
        "  25% in 0.0040 secs.\n"
        "  50% in 0.0060 secs.\n"
        "  75% in 0.0090 secs.\n"
        "  90% in 0.0100 secs.\n"
        "\nError distribution:\n"
        "  [1]\tboom\n"
    )


def test_precise_prints_gos_shortest_digits() -> None:
    lines = ten_requests(precise=True).text().splitlines()
    assert lines[2] == "  Total:\t0.5 secs."
    assert lines[3] == "  Slowest:\t0.010000000000005116 secs."  # 100.01 - 100.0 in float64
    assert "  Requests/sec:\t20" in lines


def test_only_failures_print_only_the_errors() -> None:
    report = Report()
    report.add(1.0, 2.0, TimeoutError("deadline"))
    report.add(1.0, 2.0, TimeoutError("deadline"))
    report.total = 1.0
    assert report.text() == "\nError distribution:\n  [2]\tdeadline\n"
    assert report.count == 2


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10.0, "10"),
        (99.9, "99.9"),
        (1e-05, "1e-05"),
        (1234567.0, "1.234567e+06"),
        (123456.0, "123456"),
        (0.00012, "0.00012"),
        (3e21, "3e+21"),
    ],
)
def test_go_g(value: float, text: str) -> None:
    assert go_g(value) == text


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (999, "999ns"),
        (1500, "1.5µs"),
        (1_234_567, "1.234567ms"),
        (1_000_000_000, "1s"),
        (61_500_000_000, "1m1.5s"),
        (3_600_000_000_001, "1h0m0.000000001s"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


@pytest.mark.parametrize(
    ("size", "text"), [(5, "5 B"), (8192, "8.2 kB"), (20480, "20 kB"), (2_500_000, "2.5 MB")]
)
def test_go_humanize_bytes(size: int, text: str) -> None:
    assert go_humanize_bytes(size) == text


def test_go_durations_parse() -> None:
    assert parse_go_duration("1m30s") == 90.0
    assert parse_go_duration("300ms") == pytest.approx(0.3)
    assert parse_go_duration("0") == 0.0
    with pytest.raises(ValueError):
        parse_go_duration("5 minutes")


def test_keys_are_gos_varints_in_a_zeroed_buffer() -> None:
    assert varint_key(0, 8) == bytes(8)
    assert varint_key(1, 4) == b"\x02\x00\x00\x00"
    assert varint_key(64, 3) == b"\x80\x01\x00"  # zigzag 128: two base-128 groups
