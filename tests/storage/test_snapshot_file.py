"""etcd's schema round trip, and snapshot files: the sha256 trailer, the chunks
Maintenance.Snapshot sends, and clear errors for truncated, corrupt or mismatched files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd3py.server_ref.storage.bbolt import BoltFormatError
from etcd3py.server_ref.storage.etcd_db import (
    Alarm,
    EtcdState,
    KeyRecord,
    Lease,
    Member,
    decode_lease,
    encode_lease,
    read_db,
    write_db,
)
from etcd3py.server_ref.storage.snapshot import (
    SnapshotError,
    read_snapshot_file,
    snapshot_bytes,
    snapshot_chunks,
    verify_snapshot,
)
from tests.storage.tools import History, etcdutl, sort_unordered

INT64 = st.integers(1, 2**63 - 1)


@st.composite
def states(draw: st.DrawFn) -> EtcdState:
    history = History()
    keys = st.sampled_from([b"a", b"b", b"c", b"\xff\x00"])
    for _ in range(draw(st.integers(0, 30))):
        key = draw(keys)
        if key in history.live and draw(st.booleans()):
            history.delete(key)
        else:
            history.put(key, draw(st.binary(max_size=20)), draw(st.sampled_from([0, 7])))
    if history.revision > 1 and draw(st.booleans()):
        history.compact(draw(st.integers(2, history.revision)))
    return EtcdState(
        records=history.records,
        compact_revision=history.compacted,
        scheduled_compact_revision=history.compacted,
        leases=draw(
            st.lists(
                st.builds(Lease, INT64, st.integers(1, 10**6), st.integers(0, 10**6)),
                max_size=3,
                unique_by=lambda lease: lease.id,
            )
        ),
        members=draw(
            st.lists(
                st.builds(
                    Member,
                    INT64,
                    st.tuples(st.just("http://127.0.0.1:2380")),
                    st.text(max_size=5),
                    st.tuples(st.just("http://127.0.0.1:2379")) | st.just(()),
                    st.booleans(),
                ),
                max_size=3,
                unique_by=lambda m: m.id,
            )
        ),
        removed_member_ids=draw(st.lists(INT64, max_size=2, unique=True)),
        cluster_version=draw(st.sampled_from([None, "3.5.0"])),
        alarms=draw(
            st.lists(st.builds(Alarm, INT64, st.sampled_from([1, 2])), max_size=2, unique=True)
        ),
        consistent_index=draw(st.integers(0, 2**64 - 1)),
        term=draw(st.integers(0, 2**64 - 1)),
        auth_enabled=draw(st.sampled_from([None, False, True])),
        auth_revision=draw(st.integers(0, 2**64 - 1)),
        auth_users=draw(st.dictionaries(st.binary(min_size=1, max_size=5), st.binary())),
    )


@settings(max_examples=60, deadline=None)
@given(state=states())
def test_state_round_trip(state: EtcdState) -> None:
    parsed = read_db(write_db(state))
    assert sort_unordered(parsed) == sort_unordered(state)
    assert parsed.revision == state.revision


def test_lease_record_as_gogo_marshals_it() -> None:
    """ID=1, TTL=2, RemainingTTL=3 as varints, zero fields left out (etcd's bytes)."""
    etcd_wrote = b"\x08\x88\xd4\x91\xe2\xed\xc4\xe8\x8fI\x10d"  # from a real etcd snapshot
    lease = Lease(0x491FA226DC446A08, 100)
    assert encode_lease(lease) == etcd_wrote
    assert decode_lease(etcd_wrote) == lease
    assert decode_lease(encode_lease(Lease(5, 60, 42))) == Lease(5, 60, 42)


def test_revision_follows_etcd_restore() -> None:
    assert EtcdState().revision == 1
    assert EtcdState(records=[KeyRecord(b"k", 4)], compact_revision=9).revision == 9
    assert EtcdState(records=[KeyRecord(b"k", 4)], compact_revision=2).revision == 4


def test_what_etcd_cannot_hold_is_refused() -> None:
    records = [KeyRecord(b"k", 3, 0, 3, 1, b"v"), KeyRecord(b"j", 2, 0, 2, 1, b"v")]
    with pytest.raises(ValueError, match="out of revision order"):
        write_db(EtcdState(records=records))
    with pytest.raises(ValueError, match="two lease records under one key"):
        write_db(EtcdState(leases=[Lease(1, 10), Lease(1, 20)]))


def db() -> bytes:
    history = History()
    for i in range(100):
        history.put(b"key%d" % i, b"value" * i)
    return write_db(EtcdState(records=history.records))


def test_chunks_are_the_db_then_its_digest() -> None:
    data = db()
    chunks = list(snapshot_chunks(data, chunk=4096 * 3))
    assert b"".join(blob for blob, _ in chunks[:-1]) == data
    assert [remaining for _, remaining in chunks] == [
        len(data) - sum(len(b) for b, _ in chunks[: i + 1]) for i in range(len(chunks) - 1)
    ] + [0]
    assert chunks[-1] == (hashlib.sha256(data).digest(), 0)
    assert verify_snapshot(b"".join(blob for blob, _ in chunks)) == data


def test_truncated_snapshot_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.db"
    path.write_bytes(snapshot_bytes(db())[:-100])
    with pytest.raises(SnapshotError, match=rf"^{path}: .* truncated or has no trailer"):
        read_snapshot_file(path)


def test_wrong_trailer_names_the_file_and_etcdutl_agrees(tmp_path: Path) -> None:
    data = snapshot_bytes(db())
    path = tmp_path / "wrong.db"
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(SnapshotError, match=rf"^{path}: sha256 trailer .* does not match"):
        read_snapshot_file(path)
    proc = etcdutl("snapshot", "restore", str(path), "--data-dir", str(tmp_path / "d"))
    assert proc.returncode != 0 and "expected sha256" in proc.stderr


def test_db_cut_at_a_page_with_a_good_trailer_is_reported_truncated(tmp_path: Path) -> None:
    path = tmp_path / "short.db"
    path.write_bytes(snapshot_bytes(db()[: 4096 * 4]))
    with pytest.raises(BoltFormatError, match=rf"^{path}: offset 16384: truncated"):
        read_snapshot_file(path)


def test_corrupt_page_with_a_good_trailer_names_the_file(tmp_path: Path) -> None:
    data = bytearray(db())
    data[3 * 4096 + 8] = 0x10  # page 3's flags: a freelist page where a leaf should be
    path = tmp_path / "corrupt.db"
    path.write_bytes(snapshot_bytes(bytes(data)))
    with pytest.raises(BoltFormatError, match=rf"^{path}: offset 12288: page 3 has flags"):
        read_snapshot_file(path)
