"""The writer a crash test kills: it persists a workload with a DiskRaftStorage (fsync on)
and prints "acked <n>" once the n-th call returned.

    python -m tests.durability.raft_storage_child DIR SEED

The workload is a pure function of the seed and of what the storage held at the start,
so the test replays it on a MemoryRaftStorage to know what each acknowledged call left.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from etcd3py.server_ref.cluster.disk import DiskRaftStorage
from etcd3py.server_ref.cluster.storage import MemoryRaftStorage, Persisted
from etcd3py.server_ref.raft import Entry, HardState, Snapshot
from etcd3py.server_ref.storage import wal

META = {"member_id": 1, "cluster_id": 2, "name": "crash", "peer_urls": ["http://x:2380"]}
SEGMENT_BYTES = 16 * 1024  # many segments, released by compactions


@dataclass(frozen=True)
class Call:
    compact: Snapshot | None = None  # else a save of the three below
    snapshot: Snapshot | None = None
    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()

    def steps(self) -> Iterator[Call]:
        """What a crash in its middle may have left: each prefix of its records."""
        if self.compact is not None:
            yield self
            return
        if self.snapshot is not None:
            yield Call(snapshot=self.snapshot)
        if self.hard_state is not None:
            yield Call(hard_state=self.hard_state)
        for count in range(1, len(self.entries) + 1):
            yield Call(entries=self.entries[:count])

    async def on(self, storage: MemoryRaftStorage | DiskRaftStorage) -> None:
        if self.compact is not None:
            await storage.compact(self.compact)
        else:
            await storage.save(self.snapshot, self.hard_state, self.entries)


def workload(seed: int, start: Persisted) -> Iterator[Call]:
    rng = random.Random(seed)
    base = start.snapshot.index if start.snapshot else 0
    last = start.entries[-1].index if start.entries else base
    terms = {e.index: e.term for e in start.entries}
    term = max([start.hard_state.term, *terms.values()])
    while True:
        term += rng.random() < 0.2
        data = rng.randbytes(rng.randrange(1024, 48 * 1024))
        if last > base and rng.random() < 0.1:
            index = rng.randrange(base + 1, last + 1)
            yield Call(compact=Snapshot(index, terms[index], frozenset({1, 2}), data))
            base = index
            continue
        snapshot = None
        if rng.random() < 0.05:
            base = last = last + rng.randrange(1, 5)
            snapshot = Snapshot(last, term, frozenset({1, 2, 3}), data, frozenset({4}))
        first = rng.randrange(max(base + 1, last - 3), last + 2)  # some overwrite a suffix
        entries = tuple(
            Entry(term, index, rng.randbytes(rng.randrange(300)))
            for index in range(first, first + rng.randrange(0, 40))
        )
        last = entries[-1].index if entries else max(last, first - 1)
        terms.update((e.index, e.term) for e in entries)
        yield Call(None, snapshot, HardState(term, 1, base), entries)


async def main(folder: Path, seed: int) -> None:
    wal.SEGMENT_BYTES = SEGMENT_BYTES
    if DiskRaftStorage.exists(folder):
        storage = DiskRaftStorage.open(folder, fsync=True)
    else:
        storage = DiskRaftStorage.create(folder, META, fsync=True)
    for number, call in enumerate(workload(seed, storage.load()), start=1):
        await call.on(storage)
        print(f"acked {number}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
