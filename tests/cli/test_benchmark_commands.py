"""Every benchmark command against both backends, with small totals.

What can be checked exactly is: the keys written (read back with their versions),
and that each report counts every request (its histogram adds up to the total).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from etcd3py.cli.benchmark.keys import varint_key
from etcd3py.cli.benchmark.stm import KEY_SIZE as STM_KEY_SIZE
from tests.support.backends import Backend

from .benchmark_support import histogram_counts, invoke, sections

SUMMARY = ["Summary:", "Response time histogram:", "Latency distribution:"]


@pytest.fixture
def written(backend: Backend) -> Iterator[set[bytes]]:
    """Keys a test's benchmark writes; deleted afterwards (they are outside any prefix)."""
    keys: set[bytes] = set()
    yield keys
    for key in keys:
        backend.delete(key)


def versions(backend: Backend, keys: set[bytes]) -> dict[bytes, int]:
    """The version of each of ``keys`` that exists."""
    found = {}
    for key in keys:
        kvs = backend.range(key).kvs
        if kvs:
            found[key] = kvs[0].version
    return found


def test_put_sequential_keys_writes_every_key(backend: Backend, written: set[bytes]) -> None:
    keys = {varint_key(n, 8) for n in range(7)}
    written |= keys
    result = invoke(
        [
            "--clients",
            "3",
            "--conns",
            "2",
            "put",
            "--total",
            "21",
            "--key-space-size",
            "7",
            "--sequential-keys",
        ],
        backend.endpoint,
    )
    assert result.exit_code == 0, result.output
    assert sections(result.stdout) == SUMMARY
    assert histogram_counts(result.stdout) == [histogram_counts(result.stdout)[0]]
    assert sum(histogram_counts(result.stdout)[0]) == 21
    assert versions(backend, keys) == dict.fromkeys(keys, 3)  # 21 puts over 7 keys in turn


def test_put_random_keys_stay_in_the_key_space(backend: Backend, written: set[bytes]) -> None:
    keys = {varint_key(n, 4) for n in range(5)}
    written |= keys
    result = invoke(
        ["put", "--total", "30", "--key-space-size", "5", "--key-size", "4", "--val-size", "3"],
        backend.endpoint,
    )
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 30
    found = versions(backend, keys)
    assert sum(found.values()) == 30  # each put made one version of one of the 5 keys
    values = {backend.range(key).kvs[0].value for key in found}
    assert len(values) == 1 and len(values.pop()) == 3


def test_put_check_hashkv_prints_etcds_summary(backend: Backend, written: set[bytes]) -> None:
    written.add(varint_key(0, 8))
    result = invoke(["put", "--total", "3", "--check-hashkv"], backend.endpoint)
    assert result.exit_code == 0, result.output
    tail = result.stdout.split("HashKV Summary:\n", 1)[1].splitlines()
    assert [line.split(":")[0] for line in tail] == [
        "\tHashKV",
        "\tEndpoint",
        "\tTime taken to get hashkv",
        "\tDB size",
    ]
    assert tail[1] == f"\tEndpoint: {backend.endpoint}"


def test_range_counts_every_request(backend: Backend, prefix: bytes) -> None:
    for i in range(3):
        backend.put(prefix + b"%d" % i, b"v")
    result = invoke(
        [
            "--clients",
            "2",
            "range",
            prefix.decode(),
            (prefix + b"9").decode(),
            "--total",
            "15",
            "--consistency",
            "s",
            "--limit",
            "2",
            "--count-only",
        ],
        backend.endpoint,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("bench with serializable range\n")
    assert sections(result.stdout) == SUMMARY
    assert sum(histogram_counts(result.stdout)[0]) == 15


def test_sample_adds_a_row_per_second(backend: Backend, prefix: bytes) -> None:
    result = invoke(
        ["--sample", "--precise", "range", prefix.decode(), "--total", "12"], backend.endpoint
    )
    assert result.exit_code == 0, result.output
    assert sections(result.stdout) == [*SUMMARY, "Sample in one second (unix latency throughput):"]
    table = result.stdout.split("Sample in one second (unix latency throughput):\n", 1)[1]
    header, *rows = table.strip().splitlines()
    assert header == "UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT"
    assert sum(int(row.split(",")[4]) for row in rows) == 12
    total_line = next(line for line in result.stdout.splitlines() if "Total:" in line)
    assert "." in total_line and len(total_line.split("\t")[1]) > len("0.0000 secs.")


def test_txn_put_writes_its_ops_over_the_key_space(backend: Backend, written: set[bytes]) -> None:
    keys = {varint_key(n, 8) for n in range(6)}
    written |= keys
    result = invoke(
        ["--clients", "2", "txn-put", "--total", "4", "--txn-ops", "3", "--key-space-size", "6"],
        backend.endpoint,
    )
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 4
    assert versions(backend, keys) == dict.fromkeys(keys, 2)  # 12 puts over 6 keys


def test_txn_mixed_reports_reads_and_writes(backend: Backend, written: set[bytes]) -> None:
    written.add(varint_key(0, 8))
    result = invoke(["txn-mixed", "--total", "20", "--limit", "1"], backend.endpoint)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    reads = int(next(line for line in lines if line.startswith("Total Read Ops:")).split()[-1])
    writes = int(next(line for line in lines if line.startswith("Total Write Ops:")).split()[-1])
    assert reads + writes == 20
    counts = [sum(c) for c in histogram_counts(result.stdout)]
    assert sorted(counts) == sorted(n for n in (reads, writes) if n)
    if writes:
        assert versions(backend, {varint_key(0, 8)}) == {varint_key(0, 8): writes}


def test_lease_keepalive_counts_every_keepalive(backend: Backend) -> None:
    result = invoke(["--clients", "2", "lease-keepalive", "--total", "10"], backend.endpoint)
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 10


@pytest.mark.parametrize("locker", ["stm", "lock-client", "lock-rpc"])
def test_stm_commits_every_transaction(backend: Backend, written: set[bytes], locker: str) -> None:
    keys = {varint_key(n, STM_KEY_SIZE) for n in range(3)}
    written |= keys
    result = invoke(
        [
            "--clients",
            "2",
            "stm",
            "--total",
            "6",
            "--keys",
            "3",
            "--keys-per-txn",
            "2",
            "--txn-wr-percent",
            "100",
            "--isolation",
            "s",
            "--stm-locker",
            locker,
        ],
        backend.endpoint,
    )
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 6
    assert sum(versions(backend, keys).values()) == 12  # 6 commits of 2 writes each


def test_watch_receives_every_event(backend: Backend, written: set[bytes]) -> None:
    written |= {varint_key(n, 32) for n in range(2)}
    result = invoke(
        [
            "--clients",
            "2",
            "watch",
            "--streams",
            "2",
            "--watch-per-stream",
            "3",
            "--watched-key-total",
            "2",
            "--key-space-size",
            "2",
            "--sequential-keys",
            "--put-total",
            "4",
        ],
        backend.endpoint,
    )
    assert result.exit_code == 0, result.output
    assert "Watch creation summary:\n" in result.stdout
    assert "Watch events received summary:\n" in result.stdout
    created, received = (sum(c) for c in histogram_counts(result.stdout))
    assert created == 6
    assert received == 12  # each of the 4 puts reaches the 3 watchers of its key


def test_watch_latency_counts_each_watcher(backend: Backend) -> None:
    result = invoke(
        [
            "--clients",
            "2",
            "watch-latency",
            "--total",
            "5",
            "--put-rate",
            "1000",
            "--key-size",
            "40",
        ],
        backend.endpoint,
    )
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 10


def test_watch_get_replays_history_to_every_watcher(backend: Backend) -> None:
    before = backend.range(b"watchkey").kvs
    start_version = before[0].version if before else 0
    try:
        result = invoke(
            ["watch-get", "--watchers", "20", "--streams", "2", "--events", "3"],
            backend.endpoint,
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("Get during watch summary:\n")
        assert backend.range(b"watchkey").kvs[0].version == start_version + 3
    finally:
        backend.delete(b"watchkey")


def test_target_leader_connects_to_the_leaders_urls(backend: Backend, written: set[bytes]) -> None:
    written.add(varint_key(0, 8))
    result = invoke(["--target-leader", "--conns", "2", "put", "--total", "5"], backend.endpoint)
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 5
    assert versions(backend, {varint_key(0, 8)}) == {varint_key(0, 8): 5}


def test_compact_interval_compacts_during_the_run(backend: Backend, written: set[bytes]) -> None:
    written.add(varint_key(0, 8))
    before = backend.revision()
    # --rate makes the run last at least 0.5 s: room for many 5 ms compaction rounds
    result = invoke(
        ["put", "--total", "200", "--rate", "400", "--compact-interval", "5ms",
         "--compact-index-delta", "1"],
        backend.endpoint,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sum(histogram_counts(result.stdout)[0]) == 200
    with pytest.raises(grpc.RpcError) as compacted:
        backend.range(varint_key(0, 8), revision=before + 1)
    assert compacted.value.code() == grpc.StatusCode.OUT_OF_RANGE
