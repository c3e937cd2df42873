"""A cluster member whose log cannot be written stops, and loses nothing acknowledged.

One member of a 3-process server_ref cluster may write no file beyond 256 KiB
(RLIMIT_FSIZE, as in test_data_dir.py's single-member test). When its log write fails
the member stops serving and its process exits with status 1 and the reason (etcd
panics there); the two others go on committing; restarted with room again, it catches
up and holds every acknowledged write. server_ref only: a full disk is not a fault the
suite can give a real etcd member without root.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from etcd3py import Client, EtcdError
from tests.support.servers import EtcdCluster, RefProcess

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

DEADLINE = 60.0


def test_a_member_whose_log_cannot_be_written_stops(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path, member=RefProcess)
    full = cluster.members[2]
    assert isinstance(full, RefProcess)
    full.file_size_limit = 256 * 1024
    cluster.start()
    acked: dict[bytes, int] = {}
    try:
        others = [m.endpoint for m in cluster.members[:2]]
        with Client(others, timeout=10) as client:
            deadline = time.monotonic() + DEADLINE
            n = 0
            while full.alive():
                assert time.monotonic() < deadline, "the member's log never filled up"
                key = b"k%05d" % n
                with contextlib.suppress(EtcdError):  # outcome unknown: not counted
                    acked[key] = client.put(key, b"x" * 1024).header.revision
                n += 1
            assert full.proc is not None and full.proc.wait(10) == 1
            assert "the member stopped" in full.log_tail()
            after = client.put(b"after", b"ok")  # the two others still make a quorum
            acked[b"after"] = after.header.revision
        full.file_size_limit = None  # room again
        full.start()
        with Client(full.endpoint, timeout=10) as on_it:
            deadline = time.monotonic() + DEADLINE
            while on_it.get(b"after", serializable=True).value != b"ok":
                assert time.monotonic() < deadline, "the member never caught up"
                time.sleep(0.05)  # polling its applied state under a deadline
            found = {kv.key: kv.mod_revision for kv in on_it.get(b"", from_key=True).kvs}
        assert {k: found.get(k) for k in acked} == acked  # every acknowledged write
    finally:
        cluster.stop()
