"""Snapshots in a data directory, and ``snapshot restore`` of etcd's snapshot files.

- Every ``--snapshot-count`` applied entries server_ref writes member/snap/db and drops
  the log segments it holds: the log stays short, and a restart reads the snapshot and
  the log after it back to the same state.
- ``python -m etcd3py.server_ref snapshot restore FILE --data-dir DIR`` turns a snapshot
  saved from real etcd (or from server_ref) into a data directory that server_ref serves
  exactly as the source served it; bad files and occupied directories are refused,
  naming them, with nothing written.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from etcd3py import Client
from etcd3py.server_ref import EmbeddedServer
from tests.conftest import BACKENDS
from tests.storage.test_server_snapshots import LEASES, fresh_server, write_history
from tests.storage.tools import assert_leases, assert_serves, attached_keys, everything, save
from tests.support.servers import RefProcess


def restore_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etcd3py.server_ref", "snapshot", "restore", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_snapshots_keep_the_log_short_and_restart_to_the_same_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    wal = data / "member" / "wal"
    with (
        EmbeddedServer(data_dir=data, snapshot_count=50) as server,
        Client(server.endpoint) as client,
    ):
        lease = client.grant(300)
        for i in range(400):
            client.put(f"k{i % 60}", f"v{i}", lease=lease if i % 7 == 0 else None)
            if i == 250:
                client.compact(client.get("k0").header.revision - 30)
        deadline = time.monotonic() + 30
        while len(list(wal.glob("*.wal"))) > 3:  # the latest snapshot released the rest
            assert time.monotonic() < deadline, sorted(p.name for p in wal.glob("*.wal"))
            client.put("tick", "t")
            time.sleep(0.05)
        revision = client.get("k0").header.revision
        history = {rev: everything(client, rev) for rev in range(revision - 25, revision + 1)}
        keys_on_lease = client.time_to_live(lease, keys=True).keys
    assert (data / "member" / "snap" / "db").exists()
    with EmbeddedServer(data_dir=data) as server, Client(server.endpoint) as client:
        assert client.get("k0").header.revision == revision
        assert {rev: everything(client, rev) for rev in history} == history
        assert client.time_to_live(lease, keys=True).keys == keys_on_lease


@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKENDS)
def test_server_ref_serves_a_restored_snapshot(kind: str, tmp_path: Path) -> None:
    """A snapshot saved by etcdctl from real etcd (or from server_ref), restored with our
    command: server_ref serves the same keys, history, compaction point and leases."""
    path = tmp_path / "snapshot.db"
    with fresh_server(kind, tmp_path) as endpoint, Client(endpoint) as client:
        write_history(client)
        saved = save(endpoint, path)
    restored = tmp_path / "restored"
    done = restore_cli(str(path), "--data-dir", str(restored), "--name", "copy")
    assert done.returncode == 0, done.stderr
    assert f"revision {saved.revision}" in done.stdout and "'copy'" in done.stdout
    member = RefProcess(restored, name="copy").start()
    try:
        with Client(member.endpoint) as client:
            assert_serves(client, saved)
            assert_leases(client, LEASES, attached_keys(saved))
            assert [m.name for m in client.member_list()] == ["copy"]
            assert client.put(b"next", b"n").header.revision == saved.revision + 1
    finally:
        member.remove()


def test_bad_snapshot_files_and_occupied_directories_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.db"
    with EmbeddedServer() as server, Client(server.endpoint) as client:
        client.put("k", "v")
        with open(path, "wb") as out:
            client.snapshot(out)
    whole = path.read_bytes()
    target = tmp_path / "target"

    cut = tmp_path / "cut.db"
    cut.write_bytes(whole[: len(whole) // 2])
    refused = restore_cli(str(cut), "--data-dir", str(target))
    assert refused.returncode == 1 and str(cut) in refused.stderr, refused.stderr
    assert not target.exists()  # nothing left behind

    wrong = tmp_path / "wrong-hash.db"
    wrong.write_bytes(whole[:-1] + bytes([whole[-1] ^ 0xFF]))
    refused = restore_cli(str(wrong), "--data-dir", str(target))
    assert refused.returncode == 1 and str(wrong) in refused.stderr, refused.stderr
    assert not target.exists()

    target.mkdir()
    (target / "precious").write_text("keep me")
    refused = restore_cli(str(path), "--data-dir", str(target))
    assert refused.returncode == 1 and "not empty" in refused.stderr
    assert [p.name for p in target.iterdir()] == ["precious"]

    missing = restore_cli(str(tmp_path / "nowhere.db"), "--data-dir", str(tmp_path / "t2"))
    assert missing.returncode == 1 and "nowhere.db: cannot be read" in missing.stderr

    fine = restore_cli(str(path), "--data-dir", str(tmp_path / "fine"))
    assert fine.returncode == 0, fine.stderr
    with EmbeddedServer(data_dir=tmp_path / "fine") as server, Client(server.endpoint) as client:
        assert client.get("k").value == b"v"
