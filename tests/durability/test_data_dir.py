"""server_ref's data directory: what a restart restores, and how bad directories are refused."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from etcd3py import AlarmType, Client, CompactedError, UnavailableError
from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref import EmbeddedServer
from etcd3py.server_ref.storage.datadir import DataDirError
from etcd3py.server_ref.storage.wal import WalError
from tests.conftest import Restartable
from tests.support.servers import EtcdProcess, RefProcess


def test_a_restart_restores_what_etcd_keeps(tmp_path: Path) -> None:
    """Keys with their whole history back to the compaction point, the revision, the
    compaction, leases (at their full TTL again), member and cluster ids, alarms."""
    data = tmp_path / "data"
    with EmbeddedServer(data_dir=data) as server, Client(server.endpoint) as client:
        for i in range(5):
            client.put("k", f"v{i}")
        compacted_at = client.put("other", "x").header.revision
        client.compact(compacted_at - 2)
        lease = client.grant(60)
        client.put("leased", "x", lease=lease)
        client.delete("other")
        _activate_nospace(server.endpoint)
        before = client.status()
        history = [client.get("k", revision=r).value for r in range(compacted_at - 2, compacted_at)]
        revision = client.get("k").header.revision
    with EmbeddedServer(data_dir=data) as server, Client(server.endpoint) as client:
        after = client.status()
        assert client.get("k").header.revision == revision
        assert client.get("k").kvs[0].version == 5
        assert [
            client.get("k", revision=r).value for r in range(compacted_at - 2, compacted_at)
        ] == history
        with pytest.raises(CompactedError):
            client.get("k", revision=compacted_at - 3)
        assert client.get("other").kvs == []
        info = client.time_to_live(lease.id, keys=True)
        assert info.keys == [b"leased"] and info.ttl >= 59 and info.granted_ttl == 60
        assert (after.member_id, after.header.cluster_id) == (
            before.member_id,
            before.header.cluster_id,
        )
        assert [a.alarm for a in client.alarms()] == [AlarmType.NOSPACE]
        # as etcd: a new term, and two entries of its own, at every restart
        assert (after.raft_term, after.raft_index) == (before.raft_term + 1, before.raft_index + 2)
        client.disarm(AlarmType.NOSPACE)
        assert client.put("k", "new").header.revision == revision + 1


def _activate_nospace(endpoint: str) -> None:
    with grpc.insecure_channel(endpoint) as channel:
        rpc_pb2_grpc.MaintenanceStub(channel).Alarm(
            rpc_pb2.AlarmRequest(
                action=rpc_pb2.AlarmRequest.ACTIVATE, memberID=1, alarm=rpc_pb2.NOSPACE
            ),
            timeout=10,
        )


def test_a_restarted_member_keeps_its_ids_whatever_its_flags(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedServer(data_dir=data, name="first") as server, Client(server.endpoint) as c:
        first = c.member_list()[0]
    with EmbeddedServer(data_dir=data, name="renamed") as server, Client(server.endpoint) as c:
        again = c.member_list()[0]
    assert (again.id, again.name) == (first.id, first.name)


def test_restart_rules_match_etcd(restartable: Restartable) -> None:
    """On both servers: a restart starts a new term two entries on, and gives every
    lease its full TTL again, however long the member was down."""
    with Client(restartable.endpoint) as client:
        lease = client.grant(4)
        client.put("k", "v", lease=lease)
        before = client.status()
        restartable.kill()
        restartable.revive()
        after = client.status()
        assert (after.raft_term, after.raft_index) == (before.raft_term + 1, before.raft_index + 2)
        assert client.time_to_live(lease).ttl >= 3
        assert client.get("k").kvs[0].lease == lease.id


def test_a_directory_from_a_newer_format_is_refused_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    EmbeddedServer(data_dir=data).start().stop()
    marker = data / "etcd3py-server-ref"
    marker.write_text("format 99\n")
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    with pytest.raises(DataDirError, match=rf"{marker}: written by a newer server_ref"):
        EmbeddedServer(data_dir=data).start()
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before


def test_a_real_etcd_directory_is_refused_with_the_way_out(tmp_path: Path) -> None:
    etcd = EtcdProcess(tmp_path / "etcd-data").start()
    etcd.stop()
    with pytest.raises(DataDirError, match=r"looks like a real etcd.s data directory.*snapshot"):
        EmbeddedServer(data_dir=etcd.data_dir).start()


def test_a_directory_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DataDirError, match=f"data dir {blocker}"):
        EmbeddedServer(data_dir=blocker).start()
    with pytest.raises(DataDirError, match="cannot be created"):
        EmbeddedServer(data_dir=blocker / "below").start()


def test_damage_in_the_log_stops_the_member_with_the_file_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmbeddedServer(data_dir=data) as server, Client(server.endpoint) as client:
        for i in range(20):
            client.put(f"k{i}", "v" * 100)
    (segment,) = (data / "member" / "wal").glob("*.wal")
    damaged = bytearray(segment.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    segment.write_bytes(bytes(damaged))
    with pytest.raises(WalError, match=rf"{segment}: offset \d+"):
        EmbeddedServer(data_dir=data).start()


def test_a_full_disk_refuses_the_write_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """The server process may write no file beyond 256 KiB (RLIMIT_FSIZE): the write that
    does not fit is refused, reads go on, and after a restart with room again every
    acknowledged write is there."""
    member = RefProcess(tmp_path / "data", file_size_limit=256 * 1024).start()
    acked: dict[str, int] = {}
    try:
        with Client(member.endpoint, timeout=5) as client:
            refused = None
            for n in range(1000):
                try:
                    acked[f"k{n}"] = client.put(f"k{n}", "x" * 1024).header.revision
                except UnavailableError as err:
                    refused = err
                    break
            assert refused is not None, "the log never filled up"
            assert "cannot write the log" in str(refused) and "File too large" in str(refused)
            assert client.get("k0").value == b"x" * 1024  # reads go on
            with pytest.raises(UnavailableError):
                client.put("more", "x" * 1024)
        member.kill()
        member.file_size_limit = None  # room again
        member.start()
        with Client(member.endpoint) as client:
            found = {kv.key.decode(): kv.mod_revision for kv in client.get("k", prefix=True).kvs}
            assert found == acked
            assert client.get("more").kvs == []
            assert client.put("after", "ok").header.revision == max(acked.values()) + 1
    finally:
        member.remove()
