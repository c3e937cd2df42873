"""A member whose state survives a crash: the write-ahead log behind ``EtcdServer``.

``DurableLog`` is the server's ``Log`` over a WAL (``storage/wal.py``): proposals are
buffered as they come and written by one worker thread, a batch per write and fsync
(group commit; under concurrent writes a batch may wait up to 1 ms to fill), while
the event loop goes on taking requests; after each batch the
server applies the batch's proposals in order and answers them. A write is answered
only once it is on disk, and never applied before: a crash loses nothing that was
acknowledged, and nothing a client saw (a read, a watch event) can vanish.

Every ``snapshot_count`` applied entries (etcd's --snapshot-count) the state is
written to ``member/snap/db`` as etcd's db file, atomically, and the log segments it
makes useless are deleted: replay time and disk use stay bounded.

``open_server`` starts a member on a data directory: a new one is created, an
existing one is replayed (its snapshot, then the log after it) and restarted as etcd
restarts (a new term, leases back at their full TTL).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..auth.caller import AuthInfo
from ..storage.datadir import DataDir, DataDirError
from ..storage.disk_metrics import BACKEND_COMMIT
from ..storage.etcd_db import EtcdState, read_db
from ..storage.wal import Wal, WalError
from . import proposal
from .config import ServerConfig
from .proposal import Proposal
from .server import EtcdServer
from .state import freeze, restore

log = logging.getLogger("etcd3py.server_ref")

DEFAULT_SNAPSHOT_COUNT = 100_000  # etcd's --snapshot-count
_T = TypeVar("_T")
_BATCH_WAIT = 0.001  # seconds a synced batch may wait to fill, under concurrent writes
_BATCH_TARGET = 16  # entries after which it does not wait


@dataclass(frozen=True)
class Durability:
    """Where and how a member keeps its data (etcd's flags of the same names)."""

    data_dir: Path
    snapshot_count: int = DEFAULT_SNAPSHOT_COUNT
    fsync: bool = True  # --unsafe-no-fsync turns it off: a crash of the machine may lose writes


class DurableLog:
    """EtcdServer's log on disk: group commit in one worker thread."""

    def __init__(
        self, server: EtcdServer, wal: Wal, folder: DataDir, durability: Durability
    ) -> None:
        self._server = server
        self._wal = wal
        self._folder = folder
        self._durability = durability
        # one thread: flushes (and the file work that must not overlap them) in order
        self._worker = concurrent.futures.ThreadPoolExecutor(1, "etcd3py-wal")
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False
        self._last_batch = 0
        self.snapshot_index = server.applied_index  # what member/snap/db (or the log) holds
        self._snapshotting: asyncio.Task[None] | None = None
        server.on_applied = self._applied

    def append(self, index: int, p: Proposal, who: AuthInfo | None) -> bool:
        if self._closed:
            raise WalError(f"{self._wal.folder}: the log is closed")
        self._wal.add_entry(index, proposal.encode(p, index, who))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush_all())
        return False

    async def _flush_all(self) -> None:
        """Flush batches until nothing is buffered; after each, the server applies it."""
        try:
            while not self._closed:
                try:
                    await self._gather_batch()
                    last = await self._log_io(self._wal.flush)
                except WalError as err:
                    if self._closed:
                        return
                    log.error("%s", err)
                    self._wal.discard_buffer()  # their indexes will be taken again
                    self._server.log_failed(str(err))
                    return
                if self._closed:
                    return
                self._server.durable(last)
                if not self._wal.buffered:
                    return
        finally:
            self._flushing = None

    async def _gather_batch(self) -> None:
        """Under concurrent writes, let a synced batch fill a little first.

        Each batch handed to the log's thread costs ~100 us of CPU in thread hand-overs
        and wake-ups, whatever its size; under a steady load a batch taken at once
        holds one or two entries. So when the last batch held more than one (writers
        are concurrent), wait up to 1 ms for more (measured at concurrency 64: 6,100
        puts/s at 190 us of server CPU a put, against 3,600 at 300). A lone writer's
        batches hold one entry: it never waits."""
        concurrent = self._last_batch > 1
        if self._durability.fsync and concurrent and self._wal.buffered < _BATCH_TARGET:
            await asyncio.sleep(_BATCH_WAIT)
        self._last_batch = self._wal.buffered

    async def _log_io(self, work: Callable[[], _T]) -> _T:
        """Do file work on the log, in order. With fsync it runs in the log's thread, so
        the event loop goes on while the disk syncs; without, a write is a copy into the
        kernel's cache, cheaper done at once than handed to a thread (measured: 5,500
        against 4,100 puts/s at concurrency 64; the hand-over cost ~70 us a batch)."""
        if self._durability.fsync:
            return await asyncio.get_running_loop().run_in_executor(self._worker, work)
        return work()

    # ---- snapshots ----

    def _applied(self, index: int) -> None:
        due = index - self.snapshot_index >= self._durability.snapshot_count
        if due and self._snapshotting is None and not self._closed:
            self._snapshotting = asyncio.ensure_future(self._snapshot())

    def _write_db(self, db: bytes) -> None:
        """The db file written whole: server_ref's backend commit (etcd commits its
        bbolt file every 100 ms; server_ref writes it at each snapshot)."""
        with BACKEND_COMMIT.timing():
            self._folder.write_db(db, fsync=self._durability.fsync)

    async def _snapshot(self) -> None:
        """Write the state at the applied index as member/snap/db, then delete the log
        segments it holds all of (a crash in between leaves the old db, or the new)."""
        loop = asyncio.get_running_loop()
        frozen = freeze(self._server)  # on the loop: one consistent index
        try:
            db = await loop.run_in_executor(None, frozen.db)  # not the log's thread
            await loop.run_in_executor(None, lambda: self._write_db(db))
            self.snapshot_index = frozen.consistent_index
            self._wal.request_cut()
            await self._log_io(lambda: self._wal.release(frozen.consistent_index))
        except OSError as err:  # the log still holds everything: the next one may do
            log.error("%s: snapshot not written: %s", self._folder.db, err)
        finally:
            self._snapshotting = None

    async def close(self, *, crash: bool) -> None:
        """Stop logging. ``crash``: as a killed process, entries not yet durable are
        dropped unanswered; otherwise they are flushed and answered first. A snapshot
        under way is let finish either way (its thread must not outlive the member)."""
        if not crash:
            while self._flushing is not None:
                await asyncio.shield(self._flushing)
        if self._snapshotting is not None:
            await asyncio.shield(self._snapshotting)
        self._closed = True
        self._server.abandon_pending()
        await self._log_io(self._wal.close)  # after a flush under way
        self._worker.shutdown(wait=True)


def open_server(config: ServerConfig, durability: Durability) -> tuple[EtcdServer, DurableLog]:
    """A member's server on its data directory: replayed if it exists, else created."""
    folder = DataDir(durability.data_dir)
    server = EtcdServer(config)
    try:
        if folder.exists():
            wal = _replay(server, folder, durability)
        else:
            folder.create(fsync=durability.fsync)
            wal = Wal.create(
                folder.wal,
                identity(server),
                server.raft_term,
                server.raft_index,
                fsync=durability.fsync,
            )
    except OSError as err:
        raise DataDirError(f"data dir {folder.path}: {err}") from None
    durable = DurableLog(server, wal, folder, durability)
    server.use_log(durable)
    return server, durable


def identity(server: EtcdServer) -> dict[str, Any]:
    """What the log's metadata records: the member's and the cluster's identity."""
    member = server.member
    return {
        "member_id": member.id,
        "cluster_id": server.cluster_id,
        "name": member.name,
        "peer_urls": list(member.peer_urls),
    }


def _replay(server: EtcdServer, folder: DataDir, durability: Durability) -> Wal:
    """Load the snapshot, replay the log after it, and restart the member."""
    db = folder.read_db()
    state: EtcdState | None = None if db is None else read_db(db, str(folder.db))
    snapshot_index = 0 if state is None else state.consistent_index
    wal, replayed = Wal.open(folder.wal, after_index=snapshot_index, fsync=durability.fsync)
    if replayed.cut_bytes:
        log.warning(
            "%s: cut %d bytes of a write a crash left unfinished (never acknowledged)",
            wal.segments[-1],
            replayed.cut_bytes,
        )
    identity = replayed.metadata
    server.adopt_identity(
        identity["member_id"], identity["cluster_id"], identity["name"], identity["peer_urls"]
    )
    if state is not None:
        restore(server, state)
    last = max(replayed.last_index, snapshot_index)
    for index, data in replayed.entries:
        _, p, who = proposal.decode(data)
        server.replay(index, p, who)
    server.raft_term = max(replayed.term, server.raft_term)
    server.raft_index = server.applied_index = last
    server.restarted()
    wal.add_state(server.raft_term, server.raft_index)
    wal.flush()
    return wal
