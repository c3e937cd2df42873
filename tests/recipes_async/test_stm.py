"""STM on both servers: commit and retry, each isolation level's rule, bank transfers."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import pytest

from etcd3py import AsyncClient, EtcdError
from etcd3py._async._primitives import AsyncFlag
from etcd3py.recipes._async._stm import AsyncSTM, AsyncSTMTxn, Isolation, STMConflictError
from tests.conftest import Restartable
from tests.recipes_async.jobs import Jobs

pytestmark = pytest.mark.anyio

SS = Isolation.SERIALIZABLE_SNAPSHOT
SER = Isolation.SERIALIZABLE
RR = Isolation.REPEATABLE_READS
RC = Isolation.READ_COMMITTED
WAIT = 20.0  # the longest any wait across a restart may take


async def test_reads_writes_and_result(aclient: AsyncClient, prefix: bytes) -> None:
    a, b, gone = prefix + b"a", prefix + b"b", prefix + b"gone"
    await aclient.put(a, "1")
    await aclient.put(gone, "x")

    async def move(stm: AsyncSTMTxn) -> bytes | None:
        assert await stm.get(prefix + b"missing") is None
        assert await stm.rev(prefix + b"missing") == 0
        value = await stm.get(a)
        stm.put(b, value or b"")
        assert await stm.get(b) == b"1"  # its own writes
        stm.delete(gone)
        assert await stm.get(gone) is None
        stm.put(a, "2")
        return value

    assert await AsyncSTM(aclient).run(move) == b"1"
    after = await aclient.get(prefix, prefix=True)
    assert [(kv.key, kv.value) for kv in after.kvs] == [(a, b"2"), (b, b"1")]

    async def keep(stm: AsyncSTMTxn) -> AsyncSTMTxn:
        assert await stm.rev(a) == after.kvs[0].mod_revision
        stm.put(prefix + b"c", "3")
        return stm

    committed = await AsyncSTM(aclient, "read_committed").run(keep)
    assert committed.attempt == 1 and committed.response is not None
    assert committed.response.succeeded
    assert (await aclient.get(prefix + b"c")).kvs[0].mod_revision == (
        committed.response.header.revision
    )
    with pytest.raises(ValueError):
        AsyncSTM(aclient, "snapshot")


async def test_an_error_in_fn_writes_nothing(aclient: AsyncClient, prefix: bytes) -> None:
    async def fail(stm: AsyncSTMTxn) -> None:
        stm.put(prefix + b"a", "1")
        raise KeyError("no")

    with pytest.raises(KeyError):
        await AsyncSTM(aclient).run(fail)
    assert (await aclient.get(prefix + b"a")).count == 0


@pytest.mark.parametrize(
    ("level", "b_seen", "attempts"),
    [(SS, b"old", 2), (SER, b"old", 2), (RR, b"new", 2), (RC, b"new", 1)],
)
async def test_what_a_concurrent_write_does_to_each_level(
    aclient: AsyncClient, prefix: bytes, level: Isolation, b_seen: bytes, attempts: int
) -> None:
    """Read a; someone changes a and b; read a and b again; then write c."""
    a, b = prefix + b"a", prefix + b"b"
    await aclient.put(a, "old")
    await aclient.put(b, "old")
    seen: list[tuple[bytes | None, ...]] = []

    async def fn(stm: AsyncSTMTxn) -> int:
        first_a = await stm.get(a)
        if stm.attempt == 1:
            await aclient.put(a, "new")  # a concurrent writer, between our reads
            await aclient.put(b, "new")
        seen.append((first_a, await stm.get(a), await stm.get(b)))
        stm.put(prefix + b"c", b"%d" % stm.attempt)
        return stm.attempt

    assert await AsyncSTM(aclient, level).run(fn) == attempts
    # a read is repeated from memory at every level; b comes from the snapshot of the
    # first read at the serializable levels, from the latest revision at the others
    assert seen[0] == (b"old", b"old", b_seen)
    if attempts == 2:  # a changed after it was read: aborted, run again on fresh data
        assert seen[1] == (b"new", b"new", b"new")


async def test_read_committed_never_aborts(aclient: AsyncClient, prefix: bytes) -> None:
    """Nothing is checked: an increment based on a stale read loses the other update."""
    counter = prefix + b"counter"
    await aclient.put(counter, "1")

    async def increment(stm: AsyncSTMTxn) -> int:
        value = int(await stm.get(counter) or b"0")
        if stm.attempt == 1:
            await aclient.put(counter, "10")  # a concurrent increment by 9
        stm.put(counter, str(value + 1))
        return stm.attempt

    assert await AsyncSTM(aclient, RC).run(increment) == 1
    assert (await aclient.get(counter)).value == b"2"  # the other update is lost
    await aclient.put(counter, "1")
    assert await AsyncSTM(aclient, RR).run(increment) == 2
    assert (await aclient.get(counter)).value == b"11"


@pytest.mark.parametrize(("level", "attempts"), [(SS, 2), (SER, 1)])
async def test_snapshot_isolation_checks_blind_writes(
    aclient: AsyncClient, prefix: bytes, level: Isolation, attempts: int
) -> None:
    """b is written without being read, and changed by someone after our first read."""
    a, b = prefix + b"a", prefix + b"b"
    await aclient.put(a, "1")

    async def fn(stm: AsyncSTMTxn) -> int:
        await stm.get(a)
        if stm.attempt == 1:
            await aclient.put(b, "theirs")
        stm.put(b, "mine")
        return stm.attempt

    assert await AsyncSTM(aclient, level).run(fn) == attempts
    assert (await aclient.get(b)).value == b"mine"


async def test_retries_are_bounded(aclient: AsyncClient, prefix: bytes) -> None:
    a = prefix + b"a"
    calls: list[int] = []

    async def always_conflicting(stm: AsyncSTMTxn) -> None:
        calls.append(stm.attempt)
        await stm.get(a)
        await aclient.put(a, str(stm.attempt))  # someone always gets there first
        stm.put(prefix + b"b", "x")

    with pytest.raises(STMConflictError) as info:
        await AsyncSTM(aclient, max_attempts=3).run(always_conflicting)
    assert info.value.attempts == 3 and calls == [1, 2, 3]
    calls.clear()
    with pytest.raises(STMConflictError):
        await AsyncSTM(aclient, timeout=0).run(always_conflicting)
    assert calls == [1]
    assert (await aclient.get(prefix + b"b")).count == 0


async def test_a_compacted_snapshot_starts_over(aclient: AsyncClient, prefix: bytes) -> None:
    """Fault: the history the snapshot reads from is compacted mid-transaction."""
    a, b = prefix + b"a", prefix + b"b"
    await aclient.put(a, "1")
    await aclient.put(b, "1")

    async def fn(stm: AsyncSTMTxn) -> int:
        await stm.get(a)
        if stm.attempt == 1:
            now = (await aclient.put(prefix + b"other", "x")).header.revision
            await aclient.compact(now)  # the snapshot's revision is gone
        assert await stm.get(b) == b"1"
        stm.put(a, "2")
        return stm.attempt

    assert await AsyncSTM(aclient, SS).run(fn) == 2
    assert (await aclient.get(a)).value == b"2"


@pytest.mark.parametrize("level", [SS, SER, RR])
async def test_bank_transfers_conserve_the_total(
    aclient: AsyncClient, prefix: bytes, level: Isolation
) -> None:
    accounts = [prefix + b"account/%d" % i for i in range(5)]
    for account in accounts:
        await aclient.put(account, "100")
    total, writers, transfers = 500, 8, 6
    tries: list[int] = []
    done = AsyncFlag()
    audits: list[list[int]] = []

    def transfer(source: bytes, target: bytes, amount: int) -> Any:
        async def fn(stm: AsyncSTMTxn) -> None:
            tries.append(stm.attempt)
            balance = int(await stm.get(source) or b"0")
            if balance < amount:
                return  # it would go negative: skip this transfer
            stm.put(source, str(balance - amount))
            stm.put(target, str(int(await stm.get(target) or b"0") + amount))

        return fn

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(transfers):
            source, target = rng.sample(accounts, 2)
            await AsyncSTM(aclient, level).run(transfer(source, target, rng.randint(1, 150)))

    async def balances(stm: AsyncSTMTxn) -> list[int]:
        found = [int(await stm.get(account) or b"0") for account in accounts]
        if level is not RR:  # one snapshot: the total holds even in attempts that abort
            assert sum(found) == total
        return found

    async def auditor() -> None:
        while not done.is_set() or not audits:
            # reading every account while the writers are busy may never commit: next round
            with contextlib.suppress(STMConflictError):
                audits.append(await AsyncSTM(aclient, level).run(balances))

    jobs = Jobs()
    jobs.start(auditor)
    writing = Jobs()
    for seed in range(writers):
        writing.start(writer, seed)
    try:
        await writing.join(30)
    finally:
        done.set()
    await jobs.join(10)
    final = await AsyncSTM(aclient, level).run(balances)
    for seen in [*audits, final]:
        assert sum(seen) == total and min(seen) >= 0
    assert final == [int((await aclient.get(account)).value or b"0") for account in accounts]
    assert max(tries) > 1, "the writers never conflicted: the test tested nothing"


@pytest.mark.parametrize("pause", ["between reads", "before commit"])
async def test_a_transaction_across_a_server_restart(
    restartable: Restartable, prefix: bytes, pause: str
) -> None:
    """Fault: kill -9 and revive the server while ``fn`` runs, then retry the transfer.

    The commit succeeds or raises a typed error; the transfer carries its own marker,
    so the retry applies it only if it was not applied: it is paid exactly once.
    """
    a, b, marker = prefix + b"account/a", prefix + b"account/b", prefix + b"transfer/1"
    paused, resume = AsyncFlag(), AsyncFlag()
    calls: list[int] = []

    async def transfer(stm: AsyncSTMTxn) -> bool:
        calls.append(stm.attempt)
        if await stm.get(marker) is not None:
            return False  # paid already
        source = int(await stm.get(a) or b"0")
        if pause == "between reads" and len(calls) == 1:
            paused.set()
            assert await resume.wait(WAIT)
        target = int(await stm.get(b) or b"0")
        if pause == "before commit" and len(calls) == 1:
            paused.set()
            assert await resume.wait(WAIT)
        stm.put(a, str(source - 10))
        stm.put(b, str(target + 10))
        stm.put(marker, "paid")
        return True

    async with AsyncClient(restartable.endpoint, timeout=10) as client:
        await client.put(a, "100")
        await client.put(b, "100")
        outcome: list[bool | EtcdError] = []

        async def first() -> None:
            try:
                outcome.append(await AsyncSTM(client).run(transfer))
            except EtcdError as error:  # typed: the caller may retry
                outcome.append(error)

        jobs = Jobs()
        jobs.start(first)
        assert await paused.wait(WAIT)
        restartable.kill()
        restartable.revive()
        resume.set()
        await jobs.join(WAIT)
        assert len(outcome) == 1
        retried = await AsyncSTM(client).run(transfer)  # the caller's retry
        if outcome[0] is True:
            assert retried is False  # applied once, not twice
        else:
            assert isinstance(outcome[0], EtcdError)
        balances = [int((await client.get(k)).value or b"0") for k in (a, b)]
        assert balances == [90, 110] and sum(balances) == 200
        assert (await client.get(marker)).value == b"paid"
