"""A Raft member's storage: in memory and on disk, the same state after the same calls;
what a crash leaves on disk (a torn tail, a snapshot without its marker) reads back right,
and damage is refused by name."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from etcd3py.server_ref.cluster.disk import DiskRaftStorage
from etcd3py.server_ref.cluster.storage import MemoryRaftStorage, Persisted, RaftStorage
from etcd3py.server_ref.raft import Entry, EntryKind, HardState, Snapshot
from etcd3py.server_ref.storage import wal as W
from etcd3py.server_ref.storage.datadir import DataDir, DataDirError
from etcd3py.server_ref.storage.wal import WalError

META = {"member_id": 7, "cluster_id": 9, "name": "m1", "peer_urls": ("http://127.0.0.1:2380",)}


def entries(first: int, count: int, term: int, size: int = 20) -> list[Entry]:
    return [
        Entry(term, index, bytes([index % 251]) * size, EntryKind(index % 2))
        for index in range(first, first + count)
    ]


def snapshot(index: int, term: int, data: bytes = b"state") -> Snapshot:
    return Snapshot(index, term, frozenset({1, 2, 3}), data + b"@%d" % index, frozenset({4}))


class Storages:
    """The same calls on a MemoryRaftStorage and a DiskRaftStorage, one event loop."""

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path, self.fsync = path, fsync
        self.loop = asyncio.new_event_loop()
        self.memory = MemoryRaftStorage(META)
        self.disk = DiskRaftStorage.create(path, META, fsync)

    def run(self, call: str, *args: object) -> None:
        for storage in (self.memory, self.disk):
            self.loop.run_until_complete(getattr(storage, call)(*args))

    def reopen(self) -> None:
        self.loop.run_until_complete(self.disk.close())
        self.disk = DiskRaftStorage.open(self.path, self.fsync)

    def check(self) -> Persisted:
        expected = self.memory.load()
        assert self.disk.load() == expected
        return expected

    def close(self) -> None:
        self.loop.run_until_complete(self.disk.close())
        self.loop.close()


@pytest.fixture
def both(tmp_path: Path) -> Iterator[Storages]:
    storages = Storages(tmp_path / "data")
    yield storages
    storages.close()


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(W, "SEGMENT_BYTES", 400)  # a new segment every few entries


class SameState(RuleBasedStateMachine):
    """Saves (snapshots, overwritten suffixes), compactions and reopens, in any order."""

    def __init__(self) -> None:
        super().__init__()
        folder = tempfile.mkdtemp(dir=os.environ["RAFT_STORAGE_TMP"])
        self.storages = Storages(Path(folder) / "data")
        self.term = 1

    def shape(self) -> tuple[int, int]:
        persisted = self.storages.memory.load()
        base = persisted.snapshot.index if persisted.snapshot else 0
        return base, persisted.entries[-1].index if persisted.entries else base

    @rule(
        data=st.data(),
        with_snapshot=st.booleans(),
        with_hard_state=st.booleans(),
        count=st.integers(0, 6),
        new_term=st.booleans(),
    )
    def save(
        self,
        data: st.DataObject,
        with_snapshot: bool,
        with_hard_state: bool,
        count: int,
        new_term: bool,
    ) -> None:
        base, last = self.shape()
        self.term += new_term
        snap = None
        if with_snapshot:
            index = data.draw(st.integers(base + 1, last + 3))
            snap = snapshot(index, self.term, data.draw(st.binary(max_size=200)))
            base = last = index
        first = data.draw(st.integers(base + 1, last + 1))  # may overwrite a suffix
        hard = HardState(self.term, data.draw(st.integers(0, 3)), base) if with_hard_state else None
        self.storages.run("save", snap, hard, entries(first, count, self.term))

    @precondition(lambda self: self.shape()[1] > self.shape()[0])
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        base, last = self.shape()
        index = data.draw(st.integers(base, last))  # base itself: not newer, ignored
        term = next((e.term for e in self.storages.memory.load().entries if e.index == index), 0)
        self.storages.run("compact", snapshot(index, term, data.draw(st.binary(max_size=200))))

    @rule()
    def reopen(self) -> None:
        self.storages.reopen()

    @invariant()
    def same_state(self) -> None:
        self.storages.check()

    def teardown(self) -> None:
        self.storages.close()


def test_memory_and_disk_keep_the_same_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_segments: None
) -> None:
    monkeypatch.setenv("RAFT_STORAGE_TMP", str(tmp_path))
    run = SameState.TestCase()
    run.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
    run.runTest()


def test_a_save_replaces_the_suffix_and_a_snapshot_the_log(both: Storages) -> None:
    both.run("save", None, HardState(1, 1, 0), entries(1, 5, term=1))
    both.run("save", None, HardState(2, 2, 3), entries(4, 3, term=2))  # 4, 5 replaced, 6 new
    got = both.check()
    assert [(e.index, e.term) for e in got.entries] == [
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 2),
        (5, 2),
        (6, 2),
    ]
    both.run("save", snapshot(9, 3), HardState(3, 0, 9), entries(10, 1, term=3))
    both.reopen()
    got = both.check()
    assert got.snapshot == snapshot(9, 3) and [e.index for e in got.entries] == [10]
    assert got.hard_state == HardState(3, 0, 9) and got.metadata["peer_urls"] == [
        META["peer_urls"][0]
    ]


def test_what_cannot_follow_is_refused_by_both(both: Storages) -> None:
    both.run("save", None, None, entries(1, 3, term=1))
    for storage in (both.memory, both.disk):
        for call in (
            storage.save(None, None, entries(5, 1, term=1)),  # a gap
            storage.save(None, None, [*entries(4, 1, term=1), *entries(6, 1, term=1)]),
            storage.save(snapshot(0, 0), None, []),  # not newer than none
        ):
            with pytest.raises(ValueError):
                both.loop.run_until_complete(call)
    both.run("compact", snapshot(2, 1))
    both.run("compact", snapshot(1, 1))  # older than the persisted one: ignored
    with pytest.raises(ValueError):
        both.loop.run_until_complete(both.disk.save(None, None, entries(2, 1, term=1)))
    both.reopen()
    assert both.check().snapshot == snapshot(2, 1)


def test_compaction_deletes_the_segments_it_makes_useless(
    both: Storages, small_segments: None
) -> None:
    for first in range(1, 60, 6):
        both.run("save", None, HardState(1, 1, first), entries(first, 6, term=1, size=50))
    wal = DataDir(both.path).wal
    before = sorted(wal.glob("*.wal"))
    assert len(before) > 5
    both.run("compact", snapshot(40, 1))
    after = sorted(wal.glob("*.wal"))
    assert after[0] != before[0] and len(after) < len(before) - 3
    both.reopen()
    got = both.check()
    assert got.entries[0].index == 41 and got.hard_state == HardState(1, 1, 55)


def test_concurrent_saves_are_persisted_in_call_order(tmp_path: Path) -> None:
    storages = Storages(tmp_path / "data", fsync=True)

    async def calls(storage: RaftStorage) -> None:
        await asyncio.gather(
            storage.save(None, HardState(1, 0, 0), entries(1, 8, term=1)),
            storage.save(None, HardState(2, 0, 0), entries(5, 2, term=2)),
            storage.save(None, HardState(2, 2, 0), entries(7, 3, term=2)),
        )
        await storage.compact(snapshot(3, 1))

    try:
        for storage in (storages.memory, storages.disk):
            storages.loop.run_until_complete(calls(storage))
        storages.reopen()
        assert [e.index for e in storages.check().entries] == [4, 5, 6, 7, 8, 9]
    finally:
        storages.close()


def test_a_torn_tail_is_cut(both: Storages) -> None:
    both.run("save", None, HardState(1, 1, 0), entries(1, 3, term=1))
    expected = both.check()
    both.loop.run_until_complete(both.disk.save(None, HardState(1, 1, 2), entries(4, 2, term=1)))
    both.loop.run_until_complete(both.disk.close())
    (segment,) = DataDir(both.path).wal.glob("*.wal")
    whole = segment.read_bytes()
    last_two = 2 * (8 + 1 + 17 + 20)  # header, type, index/term/kind, data
    # the crash stopped the write inside entry 4: the batch's hard state, written after
    # its entries, is lost with them
    segment.write_bytes(whole[: -last_two - 5])
    both.disk = DiskRaftStorage.open(both.path, False)
    assert both.disk.load() == expected
    both.run("save", None, None, entries(4, 1, term=2))  # goes on from the cut
    both.reopen()
    both.check()


def test_a_save_torn_at_any_byte_leaves_no_commit_past_the_log(tmp_path: Path) -> None:
    """A save writes its entries, then the hard state that commits them (etcd's
    WAL.Save order). Torn at any byte by a crash, it leaves a log whose commit index has
    its entries, so the member can start again (written the other way round, a torn
    save once left commit 244 over a log ending at 243: the member could not start)."""
    path = tmp_path / "data"
    loop = asyncio.new_event_loop()
    try:
        disk = DiskRaftStorage.create(path, META, False)
        loop.run_until_complete(disk.save(None, HardState(1, 1, 3), entries(1, 3, term=1)))
        (segment,) = DataDir(path).wal.glob("*.wal")
        before = segment.stat().st_size
        loop.run_until_complete(disk.save(None, HardState(1, 1, 5), entries(4, 2, term=1)))
        loop.run_until_complete(disk.close())
        whole = segment.read_bytes()
        for cut in range(before, len(whole) + 1):
            segment.write_bytes(whole[:cut])
            torn = DiskRaftStorage.open(path, False)
            try:
                loaded = torn.load()
            finally:
                loop.run_until_complete(torn.close())
            assert loaded.hard_state is not None
            indexes = [e.index for e in loaded.entries]
            assert indexes == list(range(1, len(indexes) + 1)), cut
            assert loaded.hard_state.commit <= indexes[-1], cut
        assert loaded.hard_state.commit == 5  # the whole save, read back
    finally:
        loop.close()


def test_damage_is_refused_naming_the_file_and_offset(both: Storages, small_segments: None) -> None:
    for first in range(1, 30, 3):
        both.run("save", None, None, entries(first, 3, term=1, size=50))
    both.loop.run_until_complete(both.disk.close())
    segments = sorted(DataDir(both.path).wal.glob("*.wal"))
    middle = segments[len(segments) // 2]
    data = bytearray(middle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    middle.write_bytes(bytes(data))
    with pytest.raises(WalError, match=rf"{middle.name}: offset \d+: a record whose checksum"):
        DiskRaftStorage.open(both.path, False)
    middle.write_bytes(bytes(data[: len(data) // 2]))  # cut short, but not the last segment
    with pytest.raises(WalError, match=rf"{middle.name}: offset \d+"):
        DiskRaftStorage.open(both.path, False)
    middle.unlink()
    with pytest.raises(WalError, match="one is missing"):
        DiskRaftStorage.open(both.path, False)
    both.disk = DiskRaftStorage.create(both.path.parent / "again", META, False)


def _crash_before_the_marker(storage: DiskRaftStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop the storage as a crash would right after the data is in place: the marker's
    flush dies, and nothing is closed or cleaned up."""

    def crash() -> int:
        raise SystemExit("killed")

    monkeypatch.setattr(storage._wal, "flush", crash)


def test_a_crash_between_the_data_and_its_marker(
    both: Storages, monkeypatch: pytest.MonkeyPatch
) -> None:
    both.run("save", None, HardState(1, 1, 6), entries(1, 8, term=1))
    both.run("compact", snapshot(4, 1, b"old"))
    expected = both.check()
    folder = DataDir(both.path)
    with monkeypatch.context() as patch:
        _crash_before_the_marker(both.disk, patch)
        with pytest.raises(SystemExit):
            both.loop.run_until_complete(both.disk.compact(snapshot(6, 1, b"new")))
    assert folder.read_db() == b"new@6" and folder.previous_db.read_bytes() == b"old@4"
    both.disk = DiskRaftStorage.open(both.path, False)  # the old one is left as killed
    assert both.disk.load() == expected and not folder.previous_db.exists()
    # received: the same for a snapshot that replaces the log
    with monkeypatch.context() as patch:
        _crash_before_the_marker(both.disk, patch)
        with pytest.raises(SystemExit):
            both.loop.run_until_complete(both.disk.save(snapshot(20, 2), None, []))
    both.disk = DiskRaftStorage.open(both.path, False)
    assert both.disk.load() == expected


def test_a_crash_with_the_old_data_set_aside(
    both: Storages, monkeypatch: pytest.MonkeyPatch
) -> None:
    both.run("save", None, None, entries(1, 8, term=1))
    both.run("compact", snapshot(4, 1, b"old"))
    expected = both.check()
    folder = DataDir(both.path)
    real_replace = os.replace

    def replace(source: str | Path, target: str | Path) -> None:
        if Path(target) == folder.db:
            raise SystemExit("killed")  # after the old db went aside, before the new came
        real_replace(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace)
        with pytest.raises(SystemExit):
            both.loop.run_until_complete(both.disk.compact(snapshot(6, 1, b"new")))
    assert not folder.db.exists() and folder.previous_db.exists()
    both.disk = DiskRaftStorage.open(both.path, False)
    assert both.disk.load() == expected
    assert folder.read_db() == b"old@4" and not (folder.snap / "db.compact.tmp").exists()


def test_a_snapshot_file_that_is_not_the_recorded_one_is_refused(both: Storages) -> None:
    both.run("save", snapshot(3, 1), None, [])
    both.loop.run_until_complete(both.disk.close())
    DataDir(both.path).db.write_bytes(b"something else")
    with pytest.raises(WalError, match=r"db: does not hold the data of snapshot 3"):
        DiskRaftStorage.open(both.path, False)
    both.disk = DiskRaftStorage.create(both.path.parent / "again", META, False)


def test_each_kind_of_directory_is_refused_by_the_other(tmp_path: Path) -> None:
    single = DataDir(tmp_path / "single")
    single.create(fsync=False)
    assert (single.marker.read_text()) == "format 1\n"
    with pytest.raises(DataDirError, match="single server_ref member, not of a server_ref Raft"):
        DiskRaftStorage.exists(single.path)
    storage = DiskRaftStorage.create(tmp_path / "raft", META, False)
    asyncio.run(storage.close())
    assert DiskRaftStorage.exists(tmp_path / "raft") and not DiskRaftStorage.exists(tmp_path / "x")
    with pytest.raises(DataDirError, match="Raft member, not of a single server_ref member"):
        DataDir(tmp_path / "raft").exists()
    with pytest.raises(DataDirError, match="holds a member's data already"):
        DiskRaftStorage.create(tmp_path / "raft", META, False)
    with pytest.raises(DataDirError, match="no member's data"):
        DiskRaftStorage.open(tmp_path / "x", False)
