"""A Raft member's storage loses nothing a save acknowledged when its process is SIGKILLed,
and a snapshot's data always matches its marker, across tens of kills at random points."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etcd3py.server_ref.cluster.disk import DiskRaftStorage
from etcd3py.server_ref.cluster.storage import MemoryRaftStorage, Persisted
from tests.durability.raft_storage_child import META, workload

pytestmark = pytest.mark.slow

CYCLES = 25
SEED = random.randrange(1 << 32)
ROOT = Path(__file__).resolve().parents[2]


def memory_from(persisted: Persisted) -> MemoryRaftStorage:
    memory = MemoryRaftStorage(META)
    call = memory.save(persisted.snapshot, persisted.hard_state, persisted.entries)
    asyncio.run(call)
    return memory


def what_may_be_there(start: Persisted, seed: int, acked: int) -> list[Persisted]:
    """What the disk may hold after ``acked`` calls returned: their result, then each
    step of the next call (a crash may stop it anywhere)."""
    memory = memory_from(start)
    calls = workload(seed, start)

    async def run() -> list[Persisted]:
        for _ in range(acked):
            await next(calls).on(memory)
        states = [memory.load()]
        for step in next(calls).steps():
            await step.on(memory)
            states.append(memory.load())
        return states

    return asyncio.run(run())


def test_sigkill_in_the_middle_of_saves_loses_nothing_acknowledged(tmp_path: Path) -> None:
    chance = random.Random(SEED)
    folder = tmp_path / "data"
    start = MemoryRaftStorage(META).load()
    for cycle in range(CYCLES):
        seed = chance.randrange(1 << 32)
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.durability.raft_storage_child", str(folder), str(seed)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        wanted, acked = chance.randrange(1, 40), 0
        while acked < wanted:
            line = child.stdout.readline()  # the child never stops on its own
            assert line, (
                f"the writer died (seed {SEED}): {child.stderr.read() if child.stderr else ''}"
            )
            acked = int(line.split()[1])
        time.sleep(chance.uniform(0, 0.004))  # the next call goes on meanwhile: kill it anywhere
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        late = [int(line.split()[1]) for line in child.stdout.read().split("\n") if line]
        acked = max([acked, *late])  # acknowledged before the kill, read after it
        storage = DiskRaftStorage.open(folder, fsync=False)  # cuts a torn tail, puts the db right
        found = storage.load()
        asyncio.run(storage.close())
        context = f"(seed {SEED}, cycle {cycle}, {acked} acknowledged)"
        assert found in what_may_be_there(start, seed, acked), context
        if found.snapshot is not None:
            assert (folder / "member" / "snap" / "db").read_bytes() == found.snapshot.data, context
        start = found
    assert start.snapshot is not None, f"no snapshot in {CYCLES} cycles (seed {SEED})"
    oldest = min((folder / "member" / "wal").glob("*.wal"))
    assert not oldest.name.startswith("0" * 16), f"no segment released (seed {SEED})"
