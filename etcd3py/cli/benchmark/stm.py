"""``benchmark stm``: software transactional memory transactions over ``--keys`` keys.

Each transaction reads ``--keys-per-txn`` distinct random keys and overwrites
``--txn-wr-percent`` of them, through ``etcd3py.recipes.AsyncSTM``; ``--stm-locker``
wraps each in a lock: the Mutex recipe (lock-client) or etcd's Lock RPC (lock-rpc).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import click

from etcd3py import AsyncClient
from etcd3py.recipes import AsyncMutex, AsyncSession, AsyncSTM, AsyncSTMTxn, Isolation

from .connections import open_clients
from .keys import random_bytes, varint_key
from .options import GlobalOptions
from .report import Report
from .root import benchmark, run
from .workers import run_requests

__all__ = ["stm"]

ISOLATIONS = {
    "c": Isolation.READ_COMMITTED,
    "r": Isolation.REPEATABLE_READS,
    "s": Isolation.SERIALIZABLE,
    "ss": Isolation.SERIALIZABLE_SNAPSHOT,
}
LOCK_NAME = "stmlock"
KEY_SIZE = 16


async def _nothing() -> None:
    return None


@dataclass
class _Worker:
    """One client's STM and the lock its transactions take (none for ``stm``)."""

    stm: AsyncSTM
    lock: Callable[[], Awaitable[None]] = _nothing
    unlock: Callable[[], Awaitable[None]] = _nothing


@benchmark.command(help="Benchmark STM")
@click.option(
    "--isolation",
    type=click.Choice(list(ISOLATIONS)),
    default="r",
    show_default=True,
    help="Read Committed (c), Repeatable Reads (r), Serializable (s), or Snapshot (ss)",
)
@click.option(
    "--keys",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Total unique keys accessible by the benchmark",
)
@click.option(
    "--total",
    type=click.IntRange(min=0),
    default=10000,
    show_default=True,
    help="Total number of completed STM transactions",
)
@click.option(
    "--keys-per-txn",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Number of keys to access per transaction",
)
@click.option(
    "--txn-wr-percent",
    type=click.IntRange(0, 100),
    default=50,
    show_default=True,
    help="Percentage of keys to overwrite per transaction",
)
@click.option(
    "--stm-locker",
    type=click.Choice(["stm", "lock-client", "lock-rpc"]),
    default="stm",
    show_default=True,
    help="Wrap STM transaction with a custom locking mechanism",
)
@click.option(
    "--val-size",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Value size of each STM put request",
)
@click.option(
    "--rate",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Maximum STM transactions per second (0 is no limit)",
)
@click.pass_obj
def stm(
    options: GlobalOptions,
    isolation: str,
    keys: int,
    total: int,
    keys_per_txn: int,
    txn_wr_percent: int,
    stm_locker: str,
    val_size: int,
    rate: int,
) -> None:
    if keys_per_txn > keys:
        raise click.BadParameter(
            f"expected --keys-per-txn between 0 and {keys}, got ({keys_per_txn})",
            param_hint="'--keys-per-txn'",
        )
    writes = int(keys_per_txn * txn_wr_percent / 100.0)

    async def transaction(txn: AsyncSTMTxn) -> None:
        chosen = random.sample(range(keys), keys_per_txn)
        for n, number in enumerate(chosen):
            key = varint_key(number, KEY_SIZE)
            await txn.get(key)
            if n < writes:
                txn.put(key, random_bytes(val_size))

    async def main() -> None:
        async with open_clients(options) as clients, contextlib.AsyncExitStack() as stack:
            workers = [
                await _worker(client, ISOLATIONS[isolation], stm_locker, stack)
                for client in clients
            ]
            report = Report(options.precise, options.sample)

            async def request(worker: _Worker, i: int) -> None:
                await worker.lock()
                try:
                    await worker.stm.run(transaction)
                finally:
                    await worker.unlock()

            await run_requests(workers, total, request, report, rate=rate)
            click.echo(report.text(), nl=False)

    run(main())


async def _worker(
    client: AsyncClient, isolation: Isolation, locker: str, stack: contextlib.AsyncExitStack
) -> _Worker:
    worker = _Worker(AsyncSTM(client, isolation))
    if locker == "stm":
        return worker
    session = await stack.enter_async_context(AsyncSession(client))
    if locker == "lock-client":
        mutex = AsyncMutex(session, LOCK_NAME)

        async def acquire() -> None:
            await mutex.acquire()

        worker.lock, worker.unlock = acquire, mutex.release
        return worker
    held: list[bytes] = []

    async def lock() -> None:
        held.append((await client.lock(LOCK_NAME, session.lease_id)).key)

    async def unlock() -> None:
        await client.unlock(held.pop())

    worker.lock, worker.unlock = lock, unlock
    return worker
