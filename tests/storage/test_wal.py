"""The write-ahead log: what is flushed reads back; a torn tail is cut, damage is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd3py.server_ref.storage import wal as W
from etcd3py.server_ref.storage.wal import Wal, WalError

META = {"member_id": 7, "cluster_id": 9, "name": "m", "peer_urls": ["http://x:1"]}


def new_log(folder: Path, entries: list[bytes], *, first: int = 5) -> Wal:
    log = Wal.create(folder, META, term=2, index=first - 1, fsync=False)
    for index, data in enumerate(entries, start=first):
        log.add_entry(index, data)
    log.flush()
    return log


@settings(max_examples=30, deadline=None)
@given(batches=st.lists(st.lists(st.binary(max_size=300), max_size=8), max_size=6))
def test_what_is_flushed_reads_back(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[bytes]]
) -> None:
    folder = tmp_path_factory.mktemp("wal")
    log = Wal.create(folder, META, term=2, index=4, fsync=False)
    written: list[tuple[int, bytes]] = []
    for number, batch in enumerate(batches):
        if number % 2:
            log.request_cut()  # entries spread over several segments
        for data in batch:
            index = 5 + len(written)
            log.add_entry(index, data)
            written.append((index, data))
        log.flush()
    log.close()
    _, replayed = Wal.open(folder, after_index=0, fsync=False)
    assert replayed.entries == written
    assert replayed.metadata == META and replayed.term == 2
    assert replayed.last_index == (written[-1][0] if written else 4)
    _, later = Wal.open(folder, after_index=6, fsync=False)
    assert later.entries == [e for e in written if e[0] > 6]


def test_a_restart_records_its_state(tmp_path: Path) -> None:
    log = new_log(tmp_path, [b"a", b"b"])
    log.add_state(3, 8)  # term 3; the entries go on from 9
    log.add_entry(9, b"c")
    log.flush()
    log.close()
    _, replayed = Wal.open(tmp_path, after_index=0, fsync=False)
    assert replayed.term == 3 and replayed.last_index == 9
    assert [i for i, _ in replayed.entries] == [5, 6, 9]


def test_a_torn_tail_is_cut(tmp_path: Path) -> None:
    new_log(tmp_path, [b"one", b"two", b"three" * 50]).close()
    (segment,) = tmp_path.glob("*.wal")
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-20])  # the last write stopped half way
    log, replayed = Wal.open(tmp_path, after_index=0, fsync=False)
    assert [data for _, data in replayed.entries] == [b"one", b"two"]
    assert replayed.cut_bytes > 0 and segment.stat().st_size == len(whole) - 20 - replayed.cut_bytes
    log.add_entry(7, b"again")  # the log goes on from the cut, at the index that was lost
    log.flush()
    log.close()
    _, again = Wal.open(tmp_path, after_index=0, fsync=False)
    assert [data for _, data in again.entries] == [b"one", b"two", b"again"]


def test_a_zeroed_sector_at_the_tail_is_a_torn_write(tmp_path: Path) -> None:
    new_log(tmp_path, [b"one", b"x" * 2000]).close()
    (segment,) = tmp_path.glob("*.wal")
    data = bytearray(segment.read_bytes())
    end = len(data)
    start = end - 1500
    start -= start % 512
    data[start : start + 512] = bytes(512)  # a sector that never reached the disk
    segment.write_bytes(bytes(data))
    _, replayed = Wal.open(tmp_path, after_index=0, fsync=False)
    assert [d for _, d in replayed.entries] == [b"one"]


def test_damage_in_the_middle_is_refused_naming_the_file(tmp_path: Path) -> None:
    new_log(tmp_path, [b"one", b"two", b"three"]).close()
    (segment,) = tmp_path.glob("*.wal")
    data = bytearray(segment.read_bytes())
    offset = data.index(b"two")
    data[offset] ^= 0xFF
    segment.write_bytes(bytes(data))
    before = segment.read_bytes()
    with pytest.raises(WalError, match=rf"{segment}: offset \d+: a record whose checksum"):
        Wal.open(tmp_path, after_index=0, fsync=False)
    assert segment.read_bytes() == before  # nothing was cut or rewritten


def test_a_bad_last_record_without_zeros_is_damage_too(tmp_path: Path) -> None:
    new_log(tmp_path, [b"one", b"two" * 100]).close()
    (segment,) = tmp_path.glob("*.wal")
    data = bytearray(segment.read_bytes())
    data[-10] ^= 0x01  # a flipped bit, not a write that stopped
    segment.write_bytes(bytes(data))
    with pytest.raises(WalError, match="checksum"):
        Wal.open(tmp_path, after_index=0, fsync=False)


def test_a_gap_in_the_indexes_is_refused(tmp_path: Path) -> None:
    log = new_log(tmp_path, [b"one"])
    log.add_entry(7, b"skipped six")
    log.flush()
    log.close()
    with pytest.raises(WalError, match="entry 7 where 6 was due"):
        Wal.open(tmp_path, after_index=0, fsync=False)


def test_damage_in_an_earlier_segment_is_refused(tmp_path: Path) -> None:
    log = new_log(tmp_path, [b"one"])
    log.request_cut()
    log.add_entry(6, b"two")
    log.flush()
    log.close()
    first = sorted(tmp_path.glob("*.wal"))[0]
    first.write_bytes(first.read_bytes()[:-3])  # cut short, but not the last segment
    with pytest.raises(WalError, match=f"{first}: offset"):
        Wal.open(tmp_path, after_index=0, fsync=False)


def test_released_segments_are_deleted(tmp_path: Path) -> None:
    log = new_log(tmp_path, [b"one", b"two"])
    log.request_cut()
    log.add_entry(7, b"three")
    log.flush()
    assert len(log.segments) == 2
    assert log.release(up_to=5) == []  # the first segment still holds 6
    assert [p.name for p in log.release(up_to=6)] == [W._name(0, 5)]
    log.close()
    _, replayed = Wal.open(tmp_path, after_index=6, fsync=False)
    assert replayed.entries == [(7, b"three")]


def test_a_crash_while_cutting_a_segment_leaves_no_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new segment is made whole aside, then renamed: a crash before leaves the log
    as it was (an empty last segment would be refused at the next open)."""
    log = new_log(tmp_path, [b"one"])
    log.request_cut()
    log.add_entry(6, b"two")

    def crash(source: object, target: object) -> None:
        raise SystemExit("killed")

    with monkeypatch.context() as patch:
        patch.setattr(W.os, "replace", crash)
        with pytest.raises(SystemExit):
            log.flush()
    assert len(list(tmp_path.glob("*.wal"))) == 1
    _, replayed = Wal.open(tmp_path, after_index=0, fsync=False)
    assert replayed.entries == [(5, b"one")]
