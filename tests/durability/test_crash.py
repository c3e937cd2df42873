"""Nothing acknowledged is lost across a crash: SIGKILL under a write load, tens of times.

The same test runs on server_ref (``python -m etcd3py.server_ref --data-dir``, as users
start it) and on real etcd 3.5.1 (fsync on), as the reference. A writer puts a new key
per write and records the revision each acknowledged put got; a watcher follows the
keys through every restart (the client resumes it from its last revision). At random
moments the server is SIGKILLed and started again on the same data directory. Then:
every acknowledged write is there with the revision it was acknowledged at, the
revision never went backwards across a restart, and the watcher saw exactly the
history, each revision once, with no gap.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from etcd3py import Client, EtcdError, EventType
from tests.support.servers import EtcdProcess, RefProcess

pytestmark = pytest.mark.slow

CYCLES = 30
SEED = random.randrange(1 << 32)


# etcd 3.5.0-3.5.2 may lose acknowledged writes when killed under load: it saved its
# consistent index apart from the data it covers, so a restart could skip entries whose
# data never reached the db (etcd-io/etcd#13766, fixed in 3.5.3 by #13854/#13908). Seen
# here once in many full runs. The reference run may fail on that, and only on an
# assertion: anything else about it (a start, the harness) still fails the test.
ETCD_3_5_1_LOSES_WRITES = pytest.mark.xfail(
    raises=AssertionError,
    strict=False,
    reason="etcd 3.5.1 can lose acknowledged writes on SIGKILL (etcd-io/etcd#13766)",
)


@pytest.fixture(params=["server_ref", pytest.param("etcd", marks=ETCD_3_5_1_LOSES_WRITES)])
def member(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EtcdProcess]:
    if request.param == "server_ref":  # snapshots (and released log segments) under way too
        proc: EtcdProcess = RefProcess(tmp_path / "data", extra_args=["--snapshot-count", "500"])
    else:
        proc = EtcdProcess(tmp_path / "data", extra_args=["--snapshot-count", "500"])
    proc.start()  # fsync on: durability is the point
    try:
        yield proc
    finally:
        proc.remove()


class Writer(threading.Thread):
    """Puts w/<n> = n, one new key per write, until stopped; records the outcome."""

    def __init__(self, client: Client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.acked: dict[bytes, int] = {}  # key -> the revision its put was answered with
        self.unsure: set[bytes] = set()  # a put that failed: applied or not, nobody knows
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            key = b"w/%08d" % n
            try:
                self.acked[key] = self.client.put(key, str(n), timeout=2).header.revision
            except EtcdError:
                self.unsure.add(key)
            n += 1


class Watcher(threading.Thread):
    """Follows w/ from the first revision through every restart."""

    def __init__(self, client: Client, start: int) -> None:
        super().__init__(daemon=True)
        self.watch = client.watch("w/", prefix=True, start_revision=start).start(timeout=10)
        self.events: list[tuple[bytes, bytes, int]] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            for response in self.watch:
                for event in response.events:
                    assert event.type == EventType.PUT
                    self.events.append((event.key, event.value, event.revision))
        except BaseException as err:  # reported by the test
            self.failure = err


def test_sigkill_under_load_loses_nothing_acknowledged(member: EtcdProcess) -> None:
    chance = random.Random(SEED)
    with Client(member.endpoint, timeout=5) as client:
        start = client.status().header.revision + 1
        watcher = Watcher(client, start)
        watcher.start()
        writer = Writer(client)
        writer.start()
        restarts = []
        for _ in range(CYCLES):
            time.sleep(chance.uniform(0.05, 0.6))  # the load runs meanwhile
            before = max(writer.acked.values(), default=0)
            member.kill()
            member.start()  # on the same data directory and port; waits until it serves
            after = client.status().header.revision
            restarts.append((before, after))
        time.sleep(0.3)
        writer.stopping.set()
        writer.join(30)
        final = client.get("w/", prefix=True)
        deadline = time.monotonic() + 30
        while (watcher.events[-1][2] if watcher.events else 0) < final.header.revision:
            assert watcher.failure is None, watcher.failure
            assert time.monotonic() < deadline, "the watcher did not catch up"
            time.sleep(0.05)
        watcher.watch.cancel()
        watcher.join(10)

    context = f"(seed {SEED}, {len(writer.acked)} acknowledged, {len(writer.unsure)} unsure)"
    assert len(writer.acked) > CYCLES, f"too little load to mean anything {context}"
    if isinstance(member, RefProcess):  # the crashes also hit snapshots and released segments
        assert (member.data_dir / "member" / "snap" / "db").exists(), context
    # the revision never went backwards across a restart
    for before, after in restarts:
        assert after >= before, f"revision {after} after a restart, {before} acknowledged {context}"
    # every acknowledged write is there, at the revision it was acknowledged at
    found = {kv.key: kv for kv in final.kvs}
    for key, revision in writer.acked.items():
        kv = found.get(key)
        assert kv is not None, f"acknowledged {key!r}@{revision} is lost {context}"
        assert (kv.mod_revision, kv.create_revision, kv.version) == (revision, revision, 1)
        assert kv.value == str(int(key[2:])).encode()
    # what is there beyond them came from writes whose answer was lost in a crash
    assert set(found) - set(writer.acked) <= writer.unsure
    # the watcher saw exactly the history: every revision once, in order, no gap
    seen = [(key, revision) for key, _, revision in watcher.events]
    assert seen == sorted(((kv.key, kv.mod_revision) for kv in final.kvs), key=lambda e: e[1])
    revisions = [revision for _, revision in seen]
    assert revisions == list(range(start, start + len(revisions))), f"a gap {context}"
