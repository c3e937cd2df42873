"""A key we own under a session's lease: its loss told at once, writes fenced by it.

Mutex, RWMutex, Semaphore and Election each own a key under a session's lease
while held or leading. The session's keep-alive learns that the lease is gone only
at its next renewal (up to TTL/3 later), and never learns that someone deleted the
key: meanwhile the owner would go on working as if nothing happened. So, while
owned, the key itself is watched (one watch on the client's shared watch stream):
the moment etcd deletes it -- revoke, expiry, a delete by anyone -- the owner stops
owning, its loss callbacks run once, and fenced writes are refused.

Nothing between winning and watching may be missed: the key must be read as ours
at a revision the watch already covers. A lock that has to wait starts the watch as
soon as its key is made, so the acquisition's own last read (the one that finds the
key first in line) is that read; otherwise, when the watch began after the revision
at which the key was last read as ours, it is read once more.

A release deletes the key, and the watch sees that deletion: it is kept (a few
seconds) for the same key's next hold -- the same session taking the same lock
again, as a contender in a loop does -- instead of being cancelled and made anew
at every acquisition. Having watched without a break, it needs no read either.

A broken connection is no loss: the client resumes the watch from where it was.
If the history it missed was compacted meanwhile, the key is read again: the same
key with the same create revision is still ours.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, NamedTuple

from etcd3py import (
    ArgumentTypeError,
    AsyncClient,
    AsyncWatch,
    ClientClosedError,
    CompactedError,
    Compare,
    CreateRevision,
    Delete,
    DeleteResponse,
    EtcdError,
    EventType,
    Get,
    LeaseLostError,
    LockNotHeldError,
    Put,
    PutResponse,
    Txn,
    TxnResponse,
    WatchClosedError,
    _check,
)
from etcd3py._async._primitives import AsyncFlag, AsyncLock, AsyncQueue, Empty, spawn
from etcd3py._retry import Backoff

from ._session import AsyncSession, AsyncSessionSource

log = logging.getLogger("etcd3py.recipes")

LossCallback = Callable[[str], Any]
Operation = Put | Get | Delete | Txn

# the longest pause between attempts when the key cannot be watched or read (seconds)
_MAX_PAUSE = 5.0
# how long a worker that watched a key waits for the next one before it ends (seconds)
_IDLE_WORKER = 10.0
# how long the watch of a released key is kept for that key's next hold (seconds)
_KEEP_WATCH = 5.0

Job = Callable[[], Awaitable[None]]


def safety_margin(ttl: int) -> float:
    """Seconds kept in hand before a lease's confirmed expiry: clock drift between
    client and server, a grant counted from its answer rather than its request, the
    time a step takes to start."""
    return max(0.5, ttl / 10)


class _KeyGone(Exception):
    """The watched key is no longer ours (never leaves this module)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Kept(NamedTuple):
    """The watch of a released key, kept for the key's next hold."""

    watch: AsyncWatch
    watched_from: int  # it has seen every change of the key after this revision
    since: float  # time.monotonic() when kept


class _Workers:
    """Background workers for the key watchers of one client, kept for the next;
    and the watches of released keys, kept for their next hold.

    A new thread (the sync face) costs about 200 us of CPU to start: a lock taken
    and released in a loop would pay it at every acquisition. A worker done with
    one key waits ``_IDLE_WORKER`` seconds for the next before it ends. A kept watch
    older than ``_KEEP_WATCH`` seconds is cancelled when another is kept or a
    worker ends.
    """

    def __init__(self) -> None:
        self._lock = AsyncLock()
        self._idle: list[AsyncQueue[Job]] = []  # the inboxes of the idle workers
        self._kept: dict[bytes, _Kept] = {}  # by key

    async def keep(self, key: bytes, watch: AsyncWatch, watched_from: int) -> None:
        """Keep ``watch`` (of ``key``, released) for the key's next hold."""
        now = time.monotonic()
        async with self._lock:
            dropped = self._expired(now)
            replaced = self._kept.pop(key, None)
            self._kept[key] = _Kept(watch, watched_from, now)
        log.debug("%r watch kept for the next hold", key)
        if replaced is not None:
            dropped.append(replaced)
        for kept in dropped:
            await kept.watch.cancel()

    async def take(self, key: bytes) -> _Kept | None:
        """The kept watch of ``key``, if any (and still open)."""
        async with self._lock:
            kept = self._kept.pop(key, None)
        if kept is not None and kept.watch.closed:
            return None
        return kept

    def _expired(self, now: float) -> list[_Kept]:
        """Take out the kept watches too old to keep (under the lock)."""
        old = [key for key, kept in self._kept.items() if now - kept.since >= _KEEP_WATCH]
        return [self._kept.pop(key) for key in old]

    async def run(self, job: Job) -> None:
        """Run ``job`` in the background, on an idle worker or a new one."""
        async with self._lock:
            if self._idle:
                self._idle.pop().put_nowait(job)
                return
        spawn(self._work, job, name="etcd3py-owned-key")

    async def _work(self, job: Job) -> None:
        inbox: AsyncQueue[Job] = AsyncQueue()
        while True:
            try:
                await job()
            except Exception:
                log.exception("watching an owned key failed")
            async with self._lock:
                self._idle.append(inbox)
            try:
                job = await inbox.get(_IDLE_WORKER)
            except Empty:
                async with self._lock:
                    if inbox in self._idle:
                        self._idle.remove(inbox)
                        dropped = self._expired(time.monotonic())
                    else:
                        dropped = None
                if dropped is not None:
                    for kept in dropped:
                        await kept.watch.cancel()
                    return
                # handed a job meanwhile: run() put it in the inbox under the lock
                job = inbox.get_nowait()


_WORKERS: weakref.WeakKeyDictionary[AsyncClient, _Workers] = weakref.WeakKeyDictionary()


def _workers(client: AsyncClient) -> _Workers:
    """The client's workers (a race between threads may make two: both work)."""
    workers = _WORKERS.get(client)
    if workers is None:
        workers = _WORKERS[client] = _Workers()
    return workers


class AsyncKeyWatcher:
    """Watches one key of ours (created at ``revision``) until stopped.

    It may start before the key is won (while waiting for the turn): it says
    nothing until ``confirm()`` tells the revision at which the key was last read as
    ours. Then it calls ``lost(reason)`` once when the key is deleted, made again
    (another create revision) or its session's lease is lost, and ends. ``stop()``
    never waits.
    """

    def __init__(
        self,
        client: AsyncClient,
        key: bytes,
        revision: int,
        session: AsyncSession,
        lost: Callable[[str], None],
    ) -> None:
        self._client = client
        self._key = key
        self._revision = revision
        self._session = session
        self._lost = lost
        self._stopping = AsyncFlag()
        self._confirmed = AsyncFlag()  # set by confirm(), or by stop()
        self._read_at: int | None = None  # the key was read as ours at this revision
        self._keep_watch = False  # stopped by a release: keep the watch for the next hold
        self._watch: AsyncWatch | None = None

    @property
    def revision(self) -> int:
        """The create revision of the key watched."""
        return self._revision

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def confirm(self, read_at: int | None) -> None:
        """The key is won: it was read as ours at revision ``read_at`` (None: unknown,
        so read it once the watch exists)."""
        self._read_at = read_at
        self._confirmed.set()

    async def start(self) -> None:
        """Watch in the background (a task, or a thread in the sync face)."""
        await _workers(self._client).run(self._run)

    def stop(self, deleting: bool = False) -> None:
        """Stop watching, from anywhere (a callback, another thread), without waiting.

        ``deleting``: the caller is deleting the key; the watch sees that deletion,
        which ends the wait for the next event, and is kept for the key's next hold.
        """
        self._keep_watch = deleting
        self._stopping.set()
        self._confirmed.set()
        watch = self._watch
        if watch is not None and not deleting:
            watch.interrupt()

    async def _run(self) -> None:
        try:
            await self._watch_until_stopped()
        finally:
            self._stopping.set()  # ended: a new hold needs a new watcher

    async def _watch_until_stopped(self) -> None:
        again = False  # watching anew after a watch that could not go on
        backoff = Backoff(most=_MAX_PAUSE)
        while not self._stopping.is_set():
            try:
                await self._follow(again)
                return  # stopped
            except _KeyGone as gone:
                self._lost(gone.reason)
                return
            except LeaseLostError as error:
                self._lost(f"its session's lease was lost ({error.reason})")
                return
            except (WatchClosedError, ClientClosedError):
                return  # stopped, or the client closed
            except CompactedError:
                again = True  # the history it missed is gone: look at the key itself
            except EtcdError as error:
                if self._stopping.is_set():
                    return
                pause = backoff.pause()
                log.warning("watching %r: %s; looking again in %.2fs", self._key, error, pause)
                again = True
                await self._stopping.wait(pause)

    async def _follow(self, again: bool) -> None:
        """Watch the key; return when stopped, raise _KeyGone when it goes.

        The watch starts at the current revision, not at the key's create revision:
        etcd serves a watch that starts in the past from a loop that runs every
        100 ms until it has caught up, so a loss soon after the acquisition would
        be told up to 100 ms late (measured: 96 ms median on etcd 3.5.1, against
        1-2 ms this way). What came before the watch is covered by a read of the key
        as ours at or after the watch's start: the acquisition's own, when it came
        late enough (a lock that waited, a watch kept from the key's last hold),
        else one made here.
        """
        workers = _workers(self._client)
        kept = None if again else await workers.take(self._key)
        if kept is not None:
            watch, watched_from = kept.watch, kept.watched_from
            self._watch = watch
        else:
            watch = self._client.watch(self._key)
            self._watch = watch
            if self._stopping.is_set():  # stop() may have missed this watch
                return
            try:
                await watch.start()
            except BaseException:
                await watch.cancel()
                raise
            # every change after this revision reaches the watch (events already
            # delivered only move it later: a read more, never a change missed)
            watched_from = watch.next_revision - 1
        log.debug("%r watched from revision %d", self._key, watched_from + 1)
        keep = False
        try:
            keep = await self._follow_hold(watch, watched_from, again)
        finally:
            if keep:
                await workers.keep(self._key, watch, watched_from)
            else:
                await watch.cancel()

    async def _follow_hold(self, watch: AsyncWatch, watched_from: int, again: bool) -> bool:
        """Follow the current hold of the key on ``watch``; raise _KeyGone when it goes.

        True once stopped with the watch still good for the key's next hold.
        """
        await self._confirmed.wait()
        if self._stopping.is_set():
            return self._keep_watch and not watch.closed
        with self._session.guard(watch):
            if again or self._read_at is None or self._read_at < watched_from:
                await self._read(again)
            async for response in watch:
                if self._stopping.is_set():  # the release's own deletion, most likely
                    return self._keep_watch and not watch.closed
                for event in response.events:
                    if event.kv.mod_revision < self._revision:
                        continue  # an earlier hold's (a watch kept from it)
                    if event.type == EventType.DELETE:
                        revision = event.kv.mod_revision
                        raise _KeyGone(f"its key was deleted at revision {revision}")
                    if event.kv.create_revision != self._revision:
                        made = event.kv.create_revision
                        raise _KeyGone(f"its key was made again at revision {made}")
        return False

    async def _read(self, again: bool) -> None:
        """Read the key once the watch exists: still ours? (_KeyGone if not)."""
        log.debug("%r read after its watch started", self._key)
        now = await self._client.get(self._key)
        if not now.kvs:
            raise _KeyGone(f"its key was deleted (found gone at revision {now.header.revision})")
        if now.kvs[0].create_revision != self._revision:
            raise _KeyGone(f"its key was made again at revision {now.kvs[0].create_revision}")
        if again:
            log.info("%r read again (its watch could not resume): still ours", self._key)


class _Owned:
    """A key of ours under a session's lease, from a won acquisition to its release.

    Given a client, each acquisition gets a session of ``ttl`` seconds of its own;
    given a session, the key hangs on it. Subclasses set ``_key`` and ``_revision``
    while acquiring, may call ``_watch_key()`` before a wait for their turn, call
    ``_own()`` once it is won and ``_disown()`` when letting go.
    """

    _what = "lock"

    def __init__(self, client_or_session: AsyncClient | AsyncSession, ttl: int) -> None:
        self._sessions = AsyncSessionSource(client_or_session, ttl)
        self._client = self._sessions.client
        self._key: bytes | None = None
        self._revision = 0
        self._watcher: AsyncKeyWatcher | None = None  # from _watch_key() or _own() on
        self._won = False  # from _own() to _disown()
        self._lost_reason: str | None = None
        self._loss_callbacks: list[LossCallback] = []

    def _refusal(self, why: str | None = None) -> EtcdError:
        """The error that says we do not own it (LockNotHeldError for locks)."""
        return LockNotHeldError(f"the {self._what} is not held" + (f": {why}" if why else ""))

    @property
    def session(self) -> AsyncSession | None:
        """The session holding (or last holding) the key."""
        return self._sessions.current

    @property
    def lost_reason(self) -> str | None:
        """Why the last hold was lost (its key deleted, its session lost), or None."""
        return self._lost_reason

    def _owning(self) -> bool:
        return (
            self._won
            and self._watcher is not None
            and self._lost_reason is None
            and self._sessions.alive
        )

    def _check_key(self) -> None:
        """Raise unless the key is ours (held, or still waiting for its turn)."""
        session = self._sessions.current
        if self._key is None or session is None:
            raise self._refusal()
        if session.lost:
            raise self._refusal(f"its session was lost ({session.lost_reason})")
        if self._watcher is not None and self._lost_reason is not None:
            raise self._refusal(self._lost_reason)

    def is_owner(self) -> Compare:
        """A txn comparison that holds only while this hold still stands."""
        self._check_key()
        assert self._key is not None
        return CreateRevision(self._key) == self._revision

    def on_lost(self, callback: LossCallback) -> None:
        """Call ``callback(reason)`` once if this hold is lost before its release.

        Lost: its key deleted (a revoked or expired lease, a delete by anyone) or its
        session lost; told as soon as etcd deletes the key, not at the next
        keep-alive. Runs at once if already lost; callbacks run on the watch's
        background task or thread: keep them short (set a flag, cancel a task).
        Raises LockNotHeldError (ElectionNotLeaderError) when nothing is held.
        """
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        if self._lost_reason is not None:
            _run_callback(callback, self._lost_reason)
        elif self._won:
            self._loss_callbacks.append(callback)
        else:
            raise self._refusal()

    @property
    def safe_until(self) -> float | None:
        """Until when (a ``time.monotonic()`` value) etcd surely still holds our lease;
        None when not held.

        The last confirmed keep-alive plus the TTL, less a safety margin
        (``max(0.5, ttl / 10)`` seconds). For work that cannot be fenced by
        ``guard()``: check before each step that it ends before then. It does not
        cover a key deleted by someone else: ``held`` tells that, at once.
        """
        session = self._sessions.current
        if not self._owning() or session is None:
            return None
        lease = session.lease
        return lease.expires_at - safety_margin(lease.ttl)

    def check_safe(self, seconds: float = 0.0) -> None:
        """Raise LockNotHeldError (ElectionNotLeaderError) unless still held and safe
        for ``seconds`` more (see ``safe_until``): call it before each unfenced step."""
        seconds = _check.seconds(seconds, "seconds", zero=True)
        until = self.safe_until
        if until is None:
            self._check_key()
            raise self._refusal()
        if time.monotonic() + seconds > until:
            raise self._refusal(f"its lease is not confirmed for {seconds}s more")

    def guard(self) -> AsyncFenced:
        """Writes that apply only while this hold stands:
        ``async with lock.guard() as fenced: await fenced.put(k, v)``.

        Each write is one transaction under the ownership compare; when the hold is
        gone it applies nothing and raises LockNotHeldError (ElectionNotLeaderError).
        """
        self._check_key()
        if not self._owning():
            raise self._refusal()
        assert self._key is not None
        return AsyncFenced(self, self._key, self._revision)

    async def _watch_key(self) -> None:
        """My key is made and I am to wait for my turn: start watching it now, so the
        wait's last read (my key first in line) also covers what came before the watch."""
        session = self._sessions.current
        assert self._key is not None and session is not None
        self._disown()  # (a hold won again without a release)
        self._lost_reason = None
        watcher = AsyncKeyWatcher(
            self._client,
            self._key,
            self._revision,
            session,
            lambda reason: self._lose(watcher, reason),
        )
        self._watcher = watcher
        await watcher.start()

    async def _own(self, read_at: int | None = None) -> None:
        """The acquisition was won, my key read as ours at revision ``read_at`` (None:
        not known): watch the key until ``_disown``."""
        watcher = self._watcher
        if watcher is None or watcher.stopped or watcher.revision != self._revision:
            await self._watch_key()
            watcher = self._watcher
            assert watcher is not None
        self._won = True
        watcher.confirm(read_at)

    def _disown(self, deleting: bool = False) -> None:
        """Letting go: stop watching (a deletion from now on is ours, not a loss).

        ``deleting``: the caller deletes the key next (its watch is kept for the next hold).
        """
        watcher, self._watcher = self._watcher, None
        self._won = False
        self._loss_callbacks = []
        if watcher is not None:
            watcher.stop(deleting)

    def _lose(self, watcher: AsyncKeyWatcher | None, reason: str) -> None:
        """The hold watched by ``watcher`` is gone: say so, once."""
        if watcher is None or watcher is not self._watcher or self._lost_reason is not None:
            return  # released meanwhile, or already told
        self._lost_reason = reason
        log.warning("%s %r lost: %s", self._what, self._key, reason)
        callbacks, self._loss_callbacks = self._loss_callbacks, []
        for callback in callbacks:
            _run_callback(callback, reason)


def _run_callback(callback: LossCallback, reason: str) -> None:
    try:
        callback(reason)
    except Exception:
        log.exception("loss callback %r failed", callback)


class AsyncFenced:
    """Writes fenced by a hold: each applies only while the hold's key is still the
    one it created (``is_owner()``), else nothing applies and the hold's error is
    raised. From ``guard()``; usable as is or in ``async with``."""

    def __init__(self, owner: _Owned, key: bytes, revision: int) -> None:
        self._owner = owner
        self._key = key
        self._revision = revision

    def __repr__(self) -> str:
        return f"<Fenced by {self._key!r}@{self._revision}>"

    async def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        lease: Any = None,
        prev_kv: bool = False,
        timeout: float | None = None,
    ) -> PutResponse:
        """``client.put``, applied only while the hold stands."""
        done = await self._apply([Put(key, value, lease=lease, prev_kv=prev_kv)], timeout)
        return done.responses[0]  # type: ignore[return-value]

    async def delete(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        prev_kv: bool = False,
        timeout: float | None = None,
    ) -> DeleteResponse:
        """``client.delete``, applied only while the hold stands."""
        op = Delete(key, prefix=prefix, range_end=range_end, prev_kv=prev_kv)
        done = await self._apply([op], timeout)
        return done.responses[0]  # type: ignore[return-value]

    async def txn(
        self,
        compare: list[Compare] | tuple[Compare, ...] = (),
        success: list[Operation] | tuple[Operation, ...] = (),
        failure: list[Operation] | tuple[Operation, ...] = (),
        *,
        timeout: float | None = None,
    ) -> TxnResponse:
        """``client.txn``, applied (either branch) only while the hold stands; the
        answer is that of your transaction."""
        nested = Txn(list(compare), list(success), list(failure))
        done = await self._apply([nested], timeout)
        return done.responses[0]  # type: ignore[return-value]

    async def _apply(self, ops: list[Operation], timeout: float | None) -> TxnResponse:
        owner = self._owner
        if owner._revision != self._revision or not owner._owning():
            owner._check_key()
            raise owner._refusal()
        done = await owner._client.txn(
            compare=[CreateRevision(self._key) == self._revision], success=ops, timeout=timeout
        )
        if not done.succeeded:
            # etcd says the key is gone: the hold is lost, whatever the watch says yet
            if owner._revision == self._revision:
                owner._lose(owner._watcher, "a fenced write found its key gone")
            raise owner._refusal(owner._lost_reason or "its key is gone")
        return done

    async def __aenter__(self) -> AsyncFenced:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
