"""Mirror: copy the keys under a prefix from one etcd to another, and keep them in sync.

What ``etcdctl make-mirror`` does (Go's client/v3/mirror: copy the prefix as it is
at one revision, then replay the watch from the next), built on AsyncCache, so
where Go's syncer stops at a compaction this mirror relists and writes the
difference, deletions included. Values are copied; leases are not (a lease of
one cluster means nothing to another), as make-mirror does.

Each step of the source is written to the destination as transactions of at most
128 operations (etcd's default --max-txn-ops), in order. A write whose outcome is
unknown (the destination unreachable) is repeated: putting a key to a value, or
deleting it, a second time changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from etcd3py import (
    ArgumentError,
    ArgumentTypeError,
    AsyncClient,
    Delete,
    Put,
    WatchClosedError,
    _check,
)
from etcd3py._async._primitives import AsyncFlag, AsyncTask, sleep, spawn
from etcd3py._retry import Backoff

from .._data import CachedKV
from ._cache import TRANSIENT, AsyncCache, AsyncCacheChanges, CacheSnapshot
from ._util import WaitTimedOut, as_bytes, deadline_after, remaining

log = logging.getLogger("etcd3py.recipes")

MAX_TXN_OPS = 128  # etcd's default --max-txn-ops
_TICK = 0.2  # how often an idle mirror catches up with the source's bookmarks


class AsyncMirror:
    """``async with AsyncMirror(source, destination, "app/") as mirror: ...``

    Copies the keys under ``prefix`` of ``source`` to ``destination``, under
    ``dest_prefix`` (default: the same prefix), then keeps them in sync. With
    ``prune``, keys under the destination prefix that the source does not hold are
    deleted at the start (make-mirror leaves them). ``revision`` is the source
    revision the destination reflects; ``count`` the keys written so far.
    """

    def __init__(
        self,
        source: AsyncClient,
        destination: AsyncClient,
        prefix: str | bytes,
        *,
        dest_prefix: str | bytes | None = None,
        prune: bool = False,
    ) -> None:
        if not isinstance(destination, AsyncClient):
            raise ArgumentTypeError("destination", destination, "an AsyncClient")
        if not isinstance(prune, bool):
            raise ArgumentTypeError("prune", prune, "True or False")
        self._source = AsyncCache(source, prefix)
        self._prefix = as_bytes(prefix, "prefix")
        self._dest_prefix = self._prefix if dest_prefix is None else as_bytes(dest_prefix)
        if source is destination and (
            self._dest_prefix.startswith(self._prefix) or self._prefix.startswith(self._dest_prefix)
        ):  # (two clients of one cluster: not told apart)
            raise ArgumentError(
                "dest_prefix", dest_prefix, "a prefix apart from the source's on the same client"
            )
        self._destination = destination
        self._prune = prune
        self.revision = 0
        self.count = 0
        self._advanced = AsyncFlag()
        self._callbacks: list[Callable[[AsyncMirror], Any]] = []
        self._error: BaseException | None = None
        self._task: AsyncTask | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Mirror {self._prefix!r} -> {self._dest_prefix!r} @{self.revision}>"

    @property
    def stale(self) -> bool:
        """True while the source could not be reached lately (the mirror keeps trying)."""
        return self._source.stale

    @property
    def error(self) -> BaseException | None:
        """Why the mirror stopped on its own (None while it runs, or after ``stop()``)."""
        return self._error

    def on_progress(self, callback: Callable[[AsyncMirror], Any]) -> None:
        """Call ``callback(mirror)`` after each step written (from the background)."""
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        self._callbacks.append(callback)

    async def start(self) -> AsyncMirror:
        """Copy the source (returns once the copy is written), then follow it in the
        background; return self (``async with`` does this)."""
        if self._task is None:
            await self._source.start()
            changes = self._source.changes()
            try:
                await self._copy(changes.snapshot)  # an unreachable destination raises here
            except BaseException:
                await self._source.close()
                raise
            self._task = spawn(self._run, changes, name="etcd3py-mirror")
        return self

    async def wait_for(self, revision: int, timeout: float | None = None) -> bool:
        """Wait until the destination reflects the source at ``revision`` (True), or
        ``timeout`` passes (False). Raises what stopped the mirror."""
        revision = _check.revision(revision)
        deadline = deadline_after(timeout)
        while True:
            if self._error is not None:
                raise self._error
            if self._stopped:
                raise WatchClosedError("the mirror was stopped")
            if self.revision >= revision:
                return True
            self._advanced.clear()
            if self.revision >= revision:
                continue
            try:
                left = remaining(deadline)
                # the source's cache confirms a quiet range; the tick then takes it over
                if self._source.revision < revision:
                    await self._source.wait_for(revision, left)
                    left = remaining(deadline)
            except WaitTimedOut:
                return False
            await self._advanced.wait(_TICK if left is None else min(left, _TICK))

    async def _run(self, changes: AsyncCacheChanges) -> None:
        try:
            while not self._stopped:
                # read before looking: a step the cache reached is queued by then
                reached = self._source.revision
                change = await changes.get(_TICK)
                if change is None:
                    self._advance(reached)  # idle: the source's bookmarks
                    continue
                await self._write(change.changed, change.deleted)
                self._advance(change.revision)
        except WatchClosedError:
            if not self._stopped:
                self._fail(WatchClosedError("the mirror's source stopped"))
        except Exception as err:
            self._fail(err)

    async def _copy(self, snapshot: CacheSnapshot) -> None:
        """The first copy: every key of the source (and, with prune, no other)."""
        extra: dict[bytes, CachedKV] = {}
        if self._prune:
            held = await self._destination.get(self._dest_prefix, prefix=True, keys_only=True)
            wanted = {self._dest_key(k) for k in snapshot}
            extra = {kv.key: CachedKV(kv.key, b"", 0, 0, 0, 0) for kv in held.kvs}
            extra = {k: e for k, e in extra.items() if k not in wanted}
        await self._write(dict(snapshot), extra, translated=True, patient=False)
        self._advance(snapshot.revision)

    def _dest_key(self, key: bytes) -> bytes:
        return self._dest_prefix + key[len(self._prefix) :]

    async def _write(
        self,
        changed: Mapping[bytes, CachedKV],
        deleted: Mapping[bytes, CachedKV],
        *,
        translated: bool = False,
        patient: bool = True,
    ) -> None:
        """Put ``changed`` and delete ``deleted`` on the destination, in batches.

        ``translated``: the deleted keys are destination keys already (prune).
        ``patient``: while the destination cannot be reached, keep trying.
        """
        ops: list[Put | Delete] = [Put(self._dest_key(k), e.value) for k, e in changed.items()]
        ops += [Delete(k if translated else self._dest_key(k)) for k in deleted]
        for start in range(0, len(ops), MAX_TXN_OPS):
            batch = ops[start : start + MAX_TXN_OPS]
            await self._apply(batch, patient)
            self.count += len(batch)

    async def _apply(self, batch: list[Put | Delete], patient: bool) -> None:
        backoff = Backoff()
        while True:
            try:
                await self._destination.txn(success=tuple(batch))
                return
            except TRANSIENT as err:  # unknown outcome: writing it again is harmless
                if not patient:
                    raise
                log.debug("mirror %r: write failed, trying again: %s", self._prefix, err)
            if self._stopped:
                raise WatchClosedError("the mirror was stopped")
            await sleep(backoff.pause())

    def _advance(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
            self._advanced.set()
            for callback in list(self._callbacks):
                try:
                    callback(self)
                except Exception:
                    log.exception("mirror callback %r failed", callback)

    def _fail(self, error: BaseException) -> None:
        log.error("mirror %r stopped: %s", self._prefix, error)
        self._error = error
        self._advanced.set()

    async def stop(self) -> None:
        """Stop following the source (what was written stays)."""
        self._stopped = True
        self._advanced.set()
        await self._source.close()
        if self._task is not None:
            self._task.cancel()
            await self._task.join(5)

    async def __aenter__(self) -> AsyncMirror:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
