"""A consistent cache of the keys in a range: list at revision R, then watch from R+1.

The one implementation of list-then-watch in the project (ConfigWatcher, the
registry's watch and the mirror are built on it). What it guarantees:

- Consistent: the cache always equals the range as it was at ``revision``; a step
  of the watch (all events of a response) is applied at once, and ``snapshot()``
  never sees half of one.
- Bookmarks: the watch asks for progress notifications, and a notice of its own
  moves ``revision`` on without events. etcd's answer to ``request_progress()`` is
  not one (etcd 3.5.1 sends it racing the events): it is only checked for a
  revision going backwards. ``wait_for`` probes the range (one read-only
  transaction: how many keys, and the last modified one) to confirm that nothing
  in it changed up to the server's revision, so as not to wait for the next
  notice (etcd sends one every 10 minutes by default). When the watch is silent
  for ``probe_interval`` seconds, a cheaper probe reads the server's revision.
- Relists, and says so: when the history it must resume from was compacted, or
  when a linearizable read shows a revision below one the cache already saw (a
  member that lost acknowledged writes: the revisions it hands out again would be
  skipped by a resumed watch; a progress notice below it triggers that read), the
  range is read again and a ``CacheChange`` with ``relisted`` set reports what
  that changed.
- Never stale silently: while the server cannot be reached the cache keeps trying
  and ``stale`` is true; a failure it cannot recover from (permission refused, the
  client closed) is raised by every read; ``close()`` ends ``wait_for`` and every
  change iterator.

Memory: one small entry per key (value, revisions, version, lease); no history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from types import TracebackType
from typing import Any

from etcd3py import (
    ArgumentError,
    ArgumentTypeError,
    AsyncClient,
    AsyncWatch,
    CompactedError,
    DeadlineExceededError,
    EventType,
    Get,
    KeyValue,
    UnavailableError,
    WatchClosedError,
    WatchResponse,
    _check,
)
from etcd3py._async._primitives import (
    AsyncFlag,
    AsyncLock,
    AsyncQueue,
    AsyncTask,
    Empty,
    sleep,
    spawn,
)
from etcd3py._keys import key_range
from etcd3py._retry import Backoff

from .._data import CacheChange, CachedKV
from ._util import WaitTimedOut, as_bytes, deadline_after, remaining, timed_out

__all__ = ["AsyncCache", "AsyncCacheChanges", "CacheSnapshot"]

log = logging.getLogger("etcd3py.recipes")

TRANSIENT = (UnavailableError, DeadlineExceededError)  # the server may answer again
DEFAULT_PAGE = 1000
DEFAULT_PROBE_INTERVAL = 10.0
DEFAULT_BUFFER = 1024
_FIRST_PROBE_GAP = 0.1
_LIST_ATTEMPTS = 5  # lists in a row cut short by a compaction before giving up
_END = object()


class _Relist(Exception):
    """Why the range must be read again (ends the current watch from inside the cache)."""


class CacheSnapshot(Mapping[bytes, CachedKV]):
    """The cache's contents at one ``revision``: a read-only mapping, key -> CachedKV."""

    def __init__(self, revision: int, entries: dict[bytes, CachedKV]) -> None:
        self.revision = revision
        self._entries = entries

    def __getitem__(self, key: bytes) -> CachedKV:
        return self._entries[key]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def range(self, start: bytes = b"", end: bytes | None = None) -> list[CachedKV]:
        """The entries with ``start <= key < end`` (no end: to the last), sorted by key."""
        found = [e for k, e in self._entries.items() if k >= start and (end is None or k < end)]
        return sorted(found, key=lambda e: e.key)

    def __repr__(self) -> str:
        return f"<CacheSnapshot @{self.revision}: {len(self._entries)} keys>"


class _Index:
    """A secondary index: the keys by the value ``fn(entry)`` gives (None: not indexed)."""

    def __init__(self, fn: Callable[[CachedKV], Hashable | None]) -> None:
        self.fn = fn
        self.keys: dict[Hashable, set[bytes]] = {}
        self.value_of: dict[bytes, Hashable] = {}

    def update(self, key: bytes, entry: CachedKV | None) -> None:
        old = self.value_of.pop(key, None)
        if old is not None:
            holders = self.keys[old]
            holders.discard(key)
            if not holders:
                del self.keys[old]
        value = None if entry is None else self._value(entry)
        if value is not None:
            self.value_of[key] = value
            self.keys.setdefault(value, set()).add(key)

    def _value(self, entry: CachedKV) -> Hashable | None:
        try:
            return self.fn(entry)
        except Exception:  # the cache goes on; the entry is left out of this index
            log.exception("cache index function %r failed on %r", self.fn, entry.key)
            return None


def _backwards(server: int, seen: int) -> str:
    return f"revision went backwards: the server is at {server}, the cache saw {seen}"


def _entry(kv: Any) -> CachedKV:
    return CachedKV(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)


class AsyncCache:
    """``async with AsyncCache(client, "jobs/") as cache: cache.get(b"jobs/1")``

    Caches the keys under a prefix, or in ``[key, range_end)`` when ``range_end`` is
    given. ``page_size`` bounds each read of a (re)list; ``probe_interval`` is how
    long the watch may stay silent before a probe checks the server (for
    staleness, and for a revision going backwards).
    """

    def __init__(
        self,
        client: AsyncClient,
        key: str | bytes,
        *,
        range_end: str | bytes | None = None,
        page_size: int = DEFAULT_PAGE,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
    ) -> None:
        if not isinstance(client, AsyncClient):
            raise ArgumentTypeError("client", client, "an AsyncClient")
        if range_end is None and not key:
            raise ArgumentError("key", key, "a non-empty prefix (or a key and range_end)")
        if range_end is None:
            self._begin, self._end = key_range(key, prefix=True)
        else:
            self._begin, self._end = key_range(key, range_end=range_end)
        self._client = client
        self._page = _check.integer(page_size, "page_size", minimum=1)
        self._probe_interval = _check.seconds(probe_interval, "probe_interval")
        self._entries: dict[bytes, CachedKV] = {}
        self.revision = 0
        self._watched = 0  # the highest revision the watch itself confirmed
        self._seq = 0  # odd while a step is being applied: readers retry
        self._lock = AsyncLock()  # one writer at a time (the watch's task, a probe)
        self._indexes: dict[str, _Index] = {}
        self._callbacks: list[Callable[[CacheChange], Any]] = []
        self._subscribers: list[AsyncCacheChanges] = []
        self._advanced = AsyncFlag()
        self._error: BaseException | None = None
        self._stale: BaseException | None = None
        self._watch: AsyncWatch | None = None
        self._task: AsyncTask | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<Cache {self._begin!r} @{self.revision}: {len(self._entries)} keys>"

    # ---- reading ----

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._task is None:
            raise RuntimeError("the cache has not started (use start() or with)")

    def _read(self, read: Callable[[], Any]) -> Any:
        """``read()`` over a state no step was applied to meanwhile (a seqlock)."""
        self._check()
        while True:
            seq = self._seq
            if seq % 2 == 0:
                try:
                    found = read()
                except (RuntimeError, KeyError):  # a step changed what it iterated: again
                    continue
                if self._seq == seq:
                    return found

    def get(self, key: str | bytes) -> CachedKV | None:
        """The entry of ``key``, None when the range does not hold it."""
        key = as_bytes(key, "key")
        self._check()
        return self._entries.get(key)

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None if isinstance(key, (str, bytes)) else False

    def __len__(self) -> int:
        self._check()
        return len(self._entries)

    def snapshot(self) -> CacheSnapshot:
        """The whole cache at one revision (a copy: later steps do not change it)."""
        return self._read(lambda: CacheSnapshot(self.revision, dict(self._entries)))  # type: ignore[no-any-return]

    def index(self, name: str, fn: Callable[[CachedKV], Hashable | None]) -> None:
        """Index the entries by ``fn(entry)`` (None: leave the entry out), for ``lookup``.

        Declare indexes before ``start()``: they are built with the first list.
        """
        name = _check.text(name, "name")
        if not callable(fn):
            raise ArgumentTypeError("fn", fn, "a callable")
        if self._task is not None:
            raise RuntimeError("declare indexes before the cache starts")
        self._indexes[name] = _Index(fn)

    def lookup(self, name: str, *values: Hashable) -> list[CachedKV]:
        """The entries whose index ``name`` gives one of ``values``, sorted by key."""
        index = self._indexes.get(_check.text(name, "name"))
        if index is None:
            raise ArgumentError("name", name, f"an index of this cache ({sorted(self._indexes)})")

        def read() -> list[CachedKV]:
            keys = sorted(k for value in values for k in index.keys.get(value, ()))
            return [self._entries[k] for k in keys]

        return self._read(read)  # type: ignore[no-any-return]

    @property
    def stale(self) -> bool:
        """True while the server could not be reached lately (the cache keeps trying)."""
        return self._stale is not None

    @property
    def stale_reason(self) -> BaseException | None:
        """Why the cache is stale: the last failure to reach the server (None: fresh)."""
        return self._stale

    # ---- following changes ----

    def on_change(self, callback: Callable[[CacheChange], Any]) -> None:
        """Call ``callback(change)`` after every step is applied (from the background)."""
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        self._callbacks.append(callback)

    def changes(self, buffer: int = DEFAULT_BUFFER) -> AsyncCacheChanges:
        """The changes from now on; ``.snapshot`` holds the state they start from.

        A consumer more than ``buffer`` changes behind gets WatchClosedError.
        """
        buffer = _check.integer(buffer, "buffer", minimum=1)
        self._check()
        while True:
            seq = self._seq
            if seq % 2:
                continue
            snapshot = CacheSnapshot(self.revision, dict(self._entries))
            subscription = AsyncCacheChanges(self, snapshot, buffer)
            self._subscribers.append(subscription)
            if self._seq == seq:  # no step in between: the snapshot and the changes join
                return subscription
            self._subscribers.remove(subscription)

    def _unsubscribe(self, subscription: AsyncCacheChanges) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    async def wait_for(self, revision: int, timeout: float | None = None) -> bool:
        """Wait until the cache reflects ``revision`` (True) or ``timeout`` passes (False).

        Raises the cache's failure, or WatchClosedError once it is closed.
        """
        revision = _check.revision(revision)
        deadline = deadline_after(timeout)
        gap, probed = _FIRST_PROBE_GAP, 0.0
        while True:
            self._check_open()
            if self.revision >= revision:
                return True
            self._advanced.clear()
            if self.revision >= revision:
                continue
            if time.monotonic() - probed >= gap:  # a quiet range: ask the server
                probed, gap = time.monotonic(), min(gap * 2, self._probe_interval)
                try:
                    await self._probe(remaining(deadline))
                except Exception as err:
                    if timed_out(err, deadline):
                        return False
                    if not isinstance(err, TRANSIENT):
                        self._fail(err)  # what the watch would meet too: not to be waited out
                        raise
                continue
            try:
                left = remaining(deadline)
            except WaitTimedOut:
                return False
            await self._advanced.wait(gap if left is None else min(left, gap))

    def _check_open(self) -> None:
        self._check()
        if self._closed:
            raise WatchClosedError(f"cache {self._begin!r}: closed")

    # ---- the background ----

    async def start(self, timeout: float | None = None) -> AsyncCache:
        """List the range and follow it; return self (``async with`` does this).

        ``timeout`` bounds each read of the list (default: the client's timeout).
        """
        timeout = _check.call_timeout(timeout)
        if self._task is None:
            revision, entries, watch = await self._list(timeout)
            await self._replace(revision, entries, watch, reason=None)
            self._task = spawn(self._follow, name="etcd3py-cache")
        return self

    async def _list(
        self, timeout: float | None = None
    ) -> tuple[int, dict[bytes, CachedKV], AsyncWatch]:
        """The range at one revision, read in pages, and a watch from the next.

        A compaction of that revision before the last page is read (or before the
        watch starts) means reading again, at a new revision.
        """
        for attempt in range(_LIST_ATTEMPTS):
            try:
                return await self._list_once(timeout)
            except CompactedError as err:
                if attempt == _LIST_ATTEMPTS - 1:
                    raise
                log.debug("cache %r: compacted while listing, again: %s", self._begin, err)
        raise AssertionError("unreachable")

    async def _list_once(
        self, timeout: float | None
    ) -> tuple[int, dict[bytes, CachedKV], AsyncWatch]:
        entries: dict[bytes, CachedKV] = {}
        revision, start = 0, self._begin
        while True:
            page = await self._client.get(
                start, range_end=self._end, limit=self._page, revision=revision, timeout=timeout
            )
            revision = revision or page.header.revision
            for kv in page.kvs:
                entries[kv.key] = _entry(kv)
            if not page.more or not page.kvs:
                break
            start = page.kvs[-1].key + b"\0"
        watch = self._client.watch(
            self._begin, range_end=self._end, start_revision=revision + 1, progress_notify=True
        )
        return revision, entries, await watch.start(timeout)

    async def _replace(
        self, revision: int, entries: dict[bytes, CachedKV], watch: AsyncWatch, reason: str | None
    ) -> None:
        """Take a new list as the cache's contents; report the difference when relisted."""
        async with self._lock:
            self._seq += 1
            try:
                old, self._entries = self._entries, entries
                self.revision = self._watched = revision
                self._watch = watch
                for index in self._indexes.values():
                    index.keys.clear()
                    index.value_of.clear()
                    for key, entry in entries.items():
                        index.update(key, entry)
                change = None
                if reason is not None:
                    changed = {k: e for k, e in entries.items() if old.get(k) != e}
                    deleted = {k: e for k, e in old.items() if k not in entries}
                    change = CacheChange(revision, changed, deleted, relisted=reason)
                    self._offer(change)
                self._stale = None
            finally:
                self._seq += 1
        self._advanced.set()
        if change is not None:
            self._call_back(change)

    async def _follow(self) -> None:
        reason: str | None = None
        while not self._closed:
            if reason is not None:
                await self._relist(reason)
                reason = None
                if self._error is not None:
                    return
                continue
            watch = self._watch
            assert watch is not None
            try:
                response = await watch.get(self._probe_interval)
            except CompactedError:
                reason = "compacted"
                continue
            except _Relist as why:
                reason = str(why)
                continue
            except Exception as err:
                if not self._closed:
                    self._fail(err)
                return
            if response is None:
                await self._probe_quietly()
                continue
            try:
                await self._apply(response)
            except Exception as err:  # a bug: said, never a cache that stopped silently
                self._fail(err)
                return

    async def _relist(self, reason: str) -> None:
        """Read the range again; while the server cannot be reached, keep trying (stale)."""
        log.warning("cache %r: %s; reading the range again", self._begin, reason)
        old = self._watch
        if old is not None:
            await old.cancel()
        backoff = Backoff()
        while not self._closed:
            try:
                revision, entries, watch = await self._list()
            except (*TRANSIENT, CompactedError) as err:
                self._stale = err
                log.debug("cache %r: relist failed, trying again: %s", self._begin, err)
                await sleep(backoff.pause())
                continue
            except Exception as err:
                self._fail(err)
                return
            await self._replace(revision, entries, watch, reason)
            log.info("cache %r: relisted at %d (%s)", self._begin, revision, reason)
            return

    async def _apply(self, response: WatchResponse) -> None:
        """Apply one step of the watch (a progress notice: a bookmark, or a sign that
        the server is behind, which a probe confirms and then relists)."""
        if response.is_progress_notify:
            seen = response.header.revision
            if seen < self._watched:
                # a member behind what the watch saw: one that lost acknowledged writes,
                # or one that lags (after a failover). A linearizable read tells them
                # apart: the lagging one answers it only once caught up, so only the
                # first makes the probe relist.
                await self._probe_quietly()
                return
            if response.progress_requested:
                return  # not a bookmark (see WatchResponse.progress_requested)
            async with self._lock:
                self._watched = seen
                if seen > self.revision:
                    self._seq += 1
                    self.revision = seen
                    self._seq += 1
            self._stale = None
            self._advanced.set()
            return
        async with self._lock:
            change = self._apply_events(response)
        self._stale = None
        if change is not None:
            self._advanced.set()
            self._call_back(change)

    def _apply_events(self, response: WatchResponse) -> CacheChange | None:
        changed: dict[bytes, CachedKV] = {}
        deleted: dict[bytes, CachedKV] = {}
        last = 0
        self._seq += 1
        try:
            for event in response.events:
                kv = event.kv
                last = kv.mod_revision
                if last <= self.revision:
                    continue  # a probe confirmed a state past it: its net effect is in
                key = kv.key
                if event.type == EventType.PUT:
                    entry = _entry(kv)
                    self._entries[key] = entry
                    changed[key] = entry
                    deleted.pop(key, None)
                else:
                    gone = self._entries.pop(key, None)
                    changed.pop(key, None)
                    if gone is not None:
                        deleted[key] = gone
                    entry = None
                for index in self._indexes.values():
                    index.update(key, entry)
            self._watched = max(self._watched, last)
            if last <= self.revision:
                return None
            change = CacheChange(last, changed, deleted)
            self._offer(change)  # before the revision moves: see AsyncMirror._run
            self.revision = last
            return change
        finally:
            self._seq += 1

    async def _probe_quietly(self) -> None:
        """The watch was silent for a while: is the server there, and not behind?"""
        try:
            await self._probe(None, confirm=False)
        except Exception as err:
            log.debug("cache %r: probe failed: %s", self._begin, err)

    async def _probe(self, timeout: float | None, *, confirm: bool = True) -> None:
        """Ask the server where it stands: stale when it cannot be reached; a relist
        when its revision is below the cache's. With ``confirm``, also whether the
        range is what the cache holds, to move the cache on to the server's revision
        (a bookmark): that reads the whole range on the server (etcd sorts it to find
        the key modified last), so only ``wait_for`` asks for it; the quiet check
        counts one key."""
        seen = self.revision
        if confirm:
            ops = [
                Get(self._begin, range_end=self._end, count_only=True),
                Get(self._begin, range_end=self._end, sort_target="mod",
                    sort_order="descend", limit=1),
            ]  # fmt: skip
        else:
            ops = [Get(self._begin, count_only=True)]
        try:
            answer = await self._client.txn(success=tuple(ops), timeout=timeout)
        except TRANSIENT as err:
            self._stale = err
            raise
        self._stale = None
        server = answer.header.revision
        if server < seen:  # a linearizable read below what the cache already saw
            watch = self._watch
            if watch is not None:
                watch.interrupt(_Relist(_backwards(server, seen)))
            return
        if not confirm:
            return
        count = answer.responses[0].count  # type: ignore[union-attr]
        last = answer.responses[1].kvs  # type: ignore[union-attr]
        async with self._lock:
            if server > self.revision and self._holds(count, last[0] if last else None):
                self._seq += 1
                self.revision = server
                self._seq += 1
                self._advanced.set()

    def _holds(self, count: int, last: KeyValue | None) -> bool:
        """Whether the range on the server, with ``count`` keys and ``last`` the one
        modified last, is what the cache holds: then every key there is unchanged
        since the cache's revision (none modified later, none deleted)."""
        if count != len(self._entries):
            return False
        if last is None:
            return not self._entries
        mine = self._entries.get(last.key)
        if mine is None or mine.mod_revision != last.mod_revision or mine.value != last.value:
            return False
        return max(e.mod_revision for e in self._entries.values()) <= last.mod_revision

    def _offer(self, change: CacheChange) -> None:
        for subscription in list(self._subscribers):
            if not subscription._offer(change):
                self._subscribers.remove(subscription)

    def _call_back(self, change: CacheChange) -> None:
        for callback in list(self._callbacks):
            try:
                callback(change)
            except Exception:
                log.exception("cache callback %r failed", callback)

    def _fail(self, error: BaseException) -> None:
        log.error("cache %r no longer follows etcd: %s", self._begin, error)
        self._error = error
        for subscription in list(self._subscribers):
            subscription._end(error)
        self._subscribers.clear()
        self._advanced.set()

    async def close(self) -> None:
        """Stop following etcd: ``wait_for`` and the change iterators end; the contents stay."""
        self._closed = True
        for subscription in list(self._subscribers):
            subscription._end(None)
        self._subscribers.clear()
        self._advanced.set()
        if self._watch is not None:
            self._watch.interrupt()
        if self._task is not None:
            self._task.cancel()
            await self._task.join(5)

    async def __aenter__(self) -> AsyncCache:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncCacheChanges:
    """A cache's changes from ``snapshot.revision`` on: ``get()`` or ``async for``."""

    def __init__(self, cache: AsyncCache, snapshot: CacheSnapshot, buffer: int) -> None:
        self.snapshot = snapshot
        self.fell_behind = False  # ended because the consumer was ``buffer`` changes behind
        self._cache = cache
        self._queue: AsyncQueue[Any] = AsyncQueue(buffer)

    def _offer(self, change: CacheChange) -> bool:
        """Queue ``change``; False (and the iterator ends with an error) when full."""
        if self._queue.full():
            self.fell_behind = True
            self._end(WatchClosedError(f"the consumer fell {self._queue.qsize()} changes behind"))
            return False
        self._queue.put_nowait(change)
        return True

    def _end(self, error: BaseException | None) -> None:
        self._queue.put_nowait(_END if error is None else error, force=True)

    async def get(self, timeout: float | None = None) -> CacheChange | None:
        """The next change; None when ``timeout`` passes first. Raises WatchClosedError
        once closed (or fallen behind), and the cache's failure."""
        change = await self._next(_check.wait_timeout(timeout))
        if change is _END:
            raise WatchClosedError("the cache's changes: closed")
        return change  # type: ignore[return-value]

    async def _next(self, timeout: float | None) -> object:
        """The next change, None when ``timeout`` passed, _END once closed."""
        try:
            item = await self._queue.get(timeout)
        except Empty:
            return None
        if item is _END or isinstance(item, BaseException):
            self._queue.put_nowait(item, force=True)  # keep answering the same
            if isinstance(item, BaseException):
                raise item
        return item

    def close(self) -> None:
        """Stop receiving changes."""
        self._cache._unsubscribe(self)
        self._end(None)

    def __aiter__(self) -> AsyncCacheChanges:
        return self

    async def __anext__(self) -> CacheChange:
        change = await self._next(None)
        if change is _END:
            raise StopAsyncIteration
        return change  # type: ignore[return-value]

    async def __aenter__(self) -> AsyncCacheChanges:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
