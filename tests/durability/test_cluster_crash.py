"""Nothing acknowledged is lost, nor applied twice, when a cluster's members crash.

On a 3-process cluster (real etcd 3.5.1, or server_ref processes started with the same
flags), writers put unique keys through one client over all endpoints while the
leader's process is SIGKILLed and restarted on its data directory, then a follower's.
At the end every member, read on its own (serializable) at one revision, holds every
acknowledged key exactly once (version 1), no key twice, and the same history
(HashKV equal at that revision).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from etcd3py import Client, EtcdError
from tests.support.clusters import EtcdClusterBackend, start_cluster

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

WRITERS = 4
PROGRESS = 30  # acknowledged writes between two faults
DEADLINE = 60.0  # seconds for any phase (progress, a restart, members agreeing)
PREFIX = b"w/"


# etcd 3.5.1's SIGKILL data loss (etcd-io/etcd#13766) was not seen here in 5 runs: the
# etcd param is unmarked; should it show, mark it as tests/durability/test_crash.py does.
@pytest.fixture(params=["etcd", "ref-process"])
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EtcdClusterBackend]:
    for group in start_cluster(request.param, tmp_path):
        assert isinstance(group, EtcdClusterBackend)
        yield group


class Writers:
    """Threads putting w/<thread>/<n>, one new key per put, until stopped."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.acked: set[bytes] = set()
        self.unsure: set[bytes] = set()  # a put that failed: applied or not, nobody knows
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(WRITERS)
        ]

    def _run(self, thread: int) -> None:
        n = 0
        while not self._stopping.is_set():
            key = PREFIX + b"%d/%06d" % (thread, n)
            try:
                self.client.put(key, key, timeout=5)
                outcome = self.acked
            except EtcdError:
                outcome = self.unsure
            with self._lock:
                outcome.add(key)
            n += 1

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_progress(self, writes: int = PROGRESS) -> None:
        """Block until ``writes`` more puts are acknowledged."""
        target = self.count() + writes
        deadline = time.monotonic() + DEADLINE
        while self.count() < target:
            assert time.monotonic() < deadline, f"writes stalled at {self.count()}"
            time.sleep(0.05)  # polling the writers' count under a deadline

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(DEADLINE)
        assert not any(t.is_alive() for t in self._threads), "a writer never returned"


def crash_and_restart(cluster: EtcdClusterBackend, pick: Callable[[int], int]) -> None:
    """SIGKILL member ``pick(leader index)``, wait for a leader, restart it."""
    victim = pick(cluster.index_of(cluster.wait_leader()))
    cluster.kill(victim)
    cluster.wait_leader(DEADLINE)
    cluster.restart(victim)


def until(call: Callable[[], int]) -> int:
    """``call`` again while the member is not there yet (a revision it has not applied)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            return call()
        except EtcdError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)  # polling a catching-up member under a deadline


def test_acknowledged_writes_survive_leader_and_follower_crashes(
    processes: EtcdClusterBackend,
) -> None:
    cluster = processes
    with Client(cluster.endpoints, timeout=5) as client, Writers(client) as writers:
        writers.wait_progress()
        crash_and_restart(cluster, lambda leader: leader)
        writers.wait_progress()
        crash_and_restart(cluster, lambda leader: (leader + 1) % 3)
        writers.wait_progress()
    with Client(cluster.endpoints, timeout=5) as client:
        revision = until(lambda: client.put("done", "1").header.revision)
    hashes = set()
    for i in range(3):
        with Client(cluster.endpoint(i), timeout=5) as member:
            hashes.add(until(lambda m=member: m.hash_kv(revision)))  # type: ignore[misc]
            found = member.get(PREFIX, prefix=True, serializable=True, revision=revision)
        versions = {kv.key: kv.version for kv in found.kvs}
        lost = writers.acked - versions.keys()
        assert not lost, f"member {i} lost {len(lost)} acknowledged writes: {sorted(lost)[:5]}"
        twice = {key for key, version in versions.items() if version != 1}
        assert not twice, f"member {i} applied writes more than once: {sorted(twice)[:5]}"
        assert versions.keys() <= writers.acked | writers.unsure, f"member {i}: unknown keys"
    assert len(hashes) == 1, f"members' HashKV differ at revision {revision}: {hashes}"
    assert len(writers.acked) >= 3 * PROGRESS
