"""Watches: many per client over one Watch stream, resumed without loss or repetition.

Every watch remembers the revision it must deliver next: the revision after its
last delivered event (or after the revision a progress notification confirmed).
When the stream breaks -- a member killed, a connection cut -- the stream is opened
again, on another endpoint if need be, and every watch is created again from that
revision. Watch ids are chosen by the client and never reused on a client, so an
answer to an old incarnation of a watch can never be taken for a new one.

Each watch buffers at most ``buffer_size`` responses. When its consumer falls that
far behind, the watch is canceled on the server and created again from its next
revision once the consumer has caught up: memory stays bounded, other watches on
the stream are not held up, and the events in between come from etcd's history
(if that history was compacted meanwhile, the consumer gets CompactedError).

Responses are delivered whole: all events of a revision come together, and
fragments are joined before delivery.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .. import _check, _metrics
from .._keys import KeyLike, key_range
from .._methods import WATCH
from .._proto import kv_pb2, rpc_pb2
from .._types import Event, WatchResponse
from ..errors import (
    ArgumentTypeError,
    ClientClosedError,
    CompactedError,
    DeadlineExceededError,
    EtcdError,
    PermissionDeniedError,
    WatchClosedError,
    connection_failed,
    error_for_message,
    show_key,
)
from ._primitives import AsyncFlag, AsyncLock, AsyncQueue, Empty
from ._stream_keeper import AsyncStreamKeeper

if TYPE_CHECKING:
    from .._namespace import Namespace
    from ._transport import AsyncTransport

log = logging.getLogger("etcd3py")

DEFAULT_BUFFER = 1024  # responses a watch holds for a slow consumer
_FILTERS = {
    "noput": rpc_pb2.WatchCreateRequest.NOPUT,
    "nodelete": rpc_pb2.WatchCreateRequest.NODELETE,
}
_END = object()


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def watch_create_request(
    key: KeyLike,
    *,
    prefix: bool = False,
    range_end: KeyLike | None = None,
    from_key: bool = False,
    start_revision: int = 0,
    prev_kv: bool = False,
    progress_notify: bool = False,
    filters: tuple[str, ...] | list[str] = (),
    fragment: bool = False,
) -> rpc_pb2.WatchCreateRequest:
    begin, end = key_range(key, prefix=prefix, range_end=range_end, from_key=from_key)
    if not isinstance(filters, (list, tuple)):
        raise ArgumentTypeError("filters", filters, "a list of 'noput' and 'nodelete'")
    codes = [_FILTERS[_check.choice(f, "filters", _FILTERS)] for f in filters]
    start_revision = _check.revision(start_revision, "start_revision")
    return rpc_pb2.WatchCreateRequest(
        key=begin,
        range_end=end,
        start_revision=start_revision,
        prev_kv=prev_kv,
        progress_notify=progress_notify,
        filters=codes,
        fragment=fragment,
    )


class AsyncWatch:
    """A watch on a key or range; iterate it for ``WatchResponse`` objects.

    Use it as a context manager (``async with client.watch(...) as watch``), or
    iterate it directly; ``cancel()`` ends it.
    """

    def __init__(
        self,
        manager: AsyncWatchManager,
        create: rpc_pb2.WatchCreateRequest,
        buffer_size: int,
        namespace: Namespace | None = None,
    ) -> None:
        self._manager = manager
        self._create = create
        self._namespace = namespace  # a view's watch hands out keys relative to it
        self._queue: AsyncQueue[Any] = AsyncQueue(buffer_size)
        self._low_water = buffer_size // 2
        self.watch_id = 0  # the server-side id of the current incarnation
        self.next_revision = create.start_revision  # 0 until created, then always set
        self._created = AsyncFlag()  # set when confirmed, or when it failed first
        self.confirmed = False
        self._failure: BaseException | None = None
        self._fragments: list[kv_pb2.Event] = []
        self.started = False
        self.closed = False
        self.paused = False  # canceled on the server while the consumer catches up
        self.needs_create = False  # queued in the manager's pending creates
        self.refused_on = -1  # token generation of a stream that refused it

    def __repr__(self) -> str:
        return f"<Watch {self._create.key!r} next_revision={self.next_revision}>"

    # ---- lifecycle ----

    async def start(self, timeout: float | None = None) -> AsyncWatch:
        """Create the watch on the server; return once etcd confirmed it.

        Raises ConnectionFailedError when no endpoint could be reached within
        ``timeout`` (default: the client's timeout), DeadlineExceededError when one
        was reached but did not confirm the watch in time.
        """
        wait = _check.call_timeout(timeout) or self._manager.timeout
        if self.closed:
            raise WatchClosedError(f"{self._describe()}: the watch was cancelled")
        if not self.started:
            self.started = True
            self._manager.add(self)
        if not await self._created.wait(wait):
            await self.cancel()
            raise self._manager.not_created(self._describe(), wait)
        if not self.confirmed and self._failure is not None:
            raise self._failure
        return self

    def _describe(self) -> str:
        return f"watch {show_key(self._create.key)}"

    async def cancel(self) -> None:
        """End the watch; iteration stops after what was already delivered."""
        if self.closed:
            return
        self.closed = True
        await self._manager.cancel(self)
        self._queue.put_nowait(_END, force=True)

    def interrupt(self, error: BaseException | None = None) -> None:
        """End the watch from anywhere (a callback, another thread), without waiting.

        The consumer gets what was already delivered, then ``error`` raised from
        ``get()``/iteration (or the normal end when ``error`` is None).
        """
        if error is not None and not isinstance(error, BaseException):
            raise ArgumentTypeError("error", error, "an exception or None")
        if self.closed:
            return
        self.closed = True
        self._manager.forget(self)
        self._queue.put_nowait(_END if error is None else error, force=True)
        self._created.set()
        if error is not None:
            self._failure = error

    async def __aenter__(self) -> AsyncWatch:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cancel()

    # ---- consuming ----

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> WatchResponse:
        if not self.started:
            await self.start()
        item = self._take(await self._queue.get())
        if item is _END:
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    async def get(self, timeout: float | None = None) -> WatchResponse | None:
        """The next response, waiting up to ``timeout`` seconds (None: no limit).

        None when ``timeout`` passed with nothing new ("nothing yet"). Once the
        watch was cancelled (or the client closed), after what was delivered:
        WatchClosedError. A failure (compaction, a lost session ...) is raised.
        """
        item = await self._next(_check.wait_timeout(timeout))
        if item is _END:
            raise WatchClosedError(f"{self._describe()}: the watch was cancelled")
        return item  # type: ignore[no-any-return]

    async def _next(self, timeout: float | None) -> Any:
        """The next response, None when ``timeout`` passed, or _END once ended."""
        if not self.started:
            await self.start()
        try:
            item = await self._queue.get(timeout)
        except Empty:
            return None
        return self._take(item)

    def _take(self, item: Any) -> Any:
        """What the consumer gets for a queued item: the response, _END, or the failure raised."""
        if item is _END:
            self._queue.put_nowait(_END, force=True)  # keep answering "ended"
            return _END
        if isinstance(item, BaseException):
            self._queue.put_nowait(_END, force=True)
            raise item
        if self.paused and self._queue.qsize() <= self._low_water:
            self._manager.resume(self)
        return item

    async def events(self, timeout: float | None = None) -> list[Event]:
        """The events of the next response that has any (progress notifications
        skipped); [] when ``timeout`` passed first. Raises WatchClosedError once the
        watch was cancelled."""
        deadline = _deadline(_check.wait_timeout(timeout))
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            response = await self.get(left)
            if response is None:
                return []
            if response.events:
                return response.events

    # ---- called by the manager ----

    def _create_request(self, watch_id: int) -> rpc_pb2.WatchRequest:
        """The request that creates this watch as ``watch_id``, from the next revision it owes.

        Used by the client's watch stream, on the first start and on every resume.
        """
        create = rpc_pb2.WatchCreateRequest()
        create.CopyFrom(self._create)
        create.watch_id = watch_id
        create.start_revision = self.next_revision
        self.watch_id = watch_id
        self._fragments.clear()
        return rpc_pb2.WatchRequest(create_request=create)

    def _on_created(self, header: rpc_pb2.ResponseHeader) -> None:
        """Record etcd's confirmation of the watch (used by the client's watch stream)."""
        if not self.next_revision:
            self.next_revision = header.revision + 1
        self.confirmed = True
        self._created.set()

    def _deliver(self, response: rpc_pb2.WatchResponse) -> bool:
        """Take a response with events or a progress notice; False when the buffer is full."""
        if response.fragment:
            self._fragments.extend(response.events)
            return True
        events: Any = response.events
        if self._fragments:
            events = [*self._fragments, *events]
            self._fragments.clear()
        if events:
            # never hand out a revision twice (an answer racing a resume would)
            if events[0].kv.mod_revision < self.next_revision:
                events = [e for e in events if e.kv.mod_revision >= self.next_revision]
                if not events:
                    return True
            if self._queue.full():
                return False
            last = events[-1].kv.mod_revision
            if self._namespace is not None:
                self._namespace.strip_events(events)
            self._queue.put_nowait(WatchResponse(response.header, events), force=True)
            self.next_revision = last + 1
            return True
        if self._queue.full():
            return False
        header = response.header
        requested = response.watch_id == -1
        self._queue.put_nowait(WatchResponse(header, events, 0, True, requested), force=True)
        if not requested:
            self.next_revision = max(self.next_revision, header.revision + 1)
        return True

    def _fail(self, error: BaseException) -> None:
        """End the watch with ``error``, raised to the consumer after what was already delivered.

        Used by the client's watch stream, e.g. for a compacted start revision or a refused watch.
        """
        if self.closed:
            return
        self.closed = True
        self._failure = error
        self._queue.put_nowait(error, force=True)
        self._created.set()


class AsyncWatchManager(AsyncStreamKeeper):
    """Runs a client's watches over one Watch stream, re-opening it when it breaks."""

    def __init__(self, transport: AsyncTransport, buffer_size: int = DEFAULT_BUFFER) -> None:
        super().__init__(transport, WATCH, "etcd3py-watch")
        self.buffer_size = buffer_size
        self._watches: dict[int, AsyncWatch] = {}  # by current watch id
        self._active: dict[AsyncWatch, None] = {}  # started, not ended; in start order
        # watches owed a create request, in the order they became due: a wake-up
        # touches only these, not every active watch (O(1) per create, not O(n))
        self._pending: deque[AsyncWatch] = deque()
        self._next_id = 1
        self._send_lock = AsyncLock()
        self._cancels: list[int] = []
        self._progress_requested = False
        self._stream_token = 0  # the token generation the stream was opened with

    @property
    def timeout(self) -> float:
        return self._transport.config.timeout

    def not_created(self, what: str, waited: float) -> EtcdError:
        """Why a watch was not confirmed in time: no endpoint reached, or a slow one."""
        if self.unreachable():
            return connection_failed(self.last_failure, what, None, list(self.tried))
        where = self._conn.endpoint.display if self._conn is not None else None
        return DeadlineExceededError(
            f"the server did not confirm the watch within {waited}s", operation=what, endpoint=where
        )

    def watch(
        self, create: rpc_pb2.WatchCreateRequest, namespace: Namespace | None = None
    ) -> AsyncWatch:
        if self._closed:
            raise ClientClosedError("the client is closed")
        self._transport.check_open()
        if namespace is not None:
            namespace.watch_create(create)
        return AsyncWatch(self, create, self.buffer_size, namespace)

    def add(self, watch: AsyncWatch) -> None:
        self._active[watch] = None
        self._queue_create(watch)
        self._ensure_running()

    def resume(self, watch: AsyncWatch) -> None:
        if watch.paused and not watch.closed:
            watch.paused = False
            self._queue_create(watch)
            self._wake.set()

    def _queue_create(self, watch: AsyncWatch) -> None:
        watch.needs_create = True
        self._pending.append(watch)

    async def cancel(self, watch: AsyncWatch) -> None:
        self.forget(watch)

    def forget(self, watch: AsyncWatch) -> None:
        """Stop serving ``watch``; the server-side cancel goes out from the loop."""
        self._active.pop(watch, None)  # a queued create is skipped: the watch is closed
        if self._watches.pop(watch.watch_id, None) is not None:
            self._cancels.append(watch.watch_id)
            self._wake.set()

    async def request_progress(self) -> None:
        self._progress_requested = True
        self._wake.set()

    # ---- the stream ----

    def _has_work(self) -> bool:
        return bool(self._active)

    async def _before_close(self) -> None:
        await self._flush_cancels()

    def _on_open(self) -> None:
        self._stream_token = self._transport.token_generation
        self._watches.clear()
        self._cancels.clear()
        self._pending.clear()  # every watch is created again, in start order
        resumed = 0
        for watch in list(self._active):
            if not watch.paused:
                self._queue_create(watch)
                resumed += watch._created.is_set()
        _metrics.watches_resumed(resumed)

    def _on_stream_down(self) -> None:
        self._watches.clear()

    async def _work(self) -> None:
        await self._flush_cancels()
        await self._send_creates()
        if self._progress_requested:
            self._progress_requested = False
            await self._send(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))

    async def _send(self, request: rpc_pb2.WatchRequest) -> None:
        async with self._send_lock:
            if self._stream is not None:
                await self._stream.send(request)

    async def _send_creates(self) -> None:
        pending = self._pending
        while pending:
            watch = pending.popleft()
            # queued twice (a resume racing a re-open), or ended or paused meanwhile
            if watch.needs_create and not watch.closed and not watch.paused:
                watch.needs_create = False
                watch_id = self._next_id
                self._next_id += 1
                self._watches[watch_id] = watch
                await self._send(watch._create_request(watch_id))

    async def _flush_cancels(self) -> None:
        cancels, self._cancels = self._cancels, []
        for watch_id in cancels:
            await self._send(
                rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=watch_id))
            )

    def _pause(self, watch: AsyncWatch) -> None:
        """The consumer is too far behind: stop the server watch until it catches up."""
        watch.paused = True
        if self._watches.pop(watch.watch_id, None) is not None:
            self._cancels.append(watch.watch_id)
            self._wake.set()

    def _on_response(self, response: rpc_pb2.WatchResponse) -> None:
        watch_id = response.watch_id
        if watch_id == -1 and not response.created:
            # answer to request_progress(): every watch is up to date to this revision
            for watch in list(self._watches.values()):
                if not watch._deliver(response):
                    self._pause(watch)
            return
        found = self._watches.get(watch_id)
        if found is None:
            return  # an answer to an incarnation we no longer track
        watch = found
        if response.created:
            if response.canceled:
                self._watches.pop(response.watch_id, None)
                reason = response.cancel_reason or "the server refused the watch"
                refusal = error_for_message(reason, WatchClosedError)
                if isinstance(refusal, PermissionDeniedError) and self._retry_with_new_token(watch):
                    return
                self._finish(watch, refusal)
                return
            watch._on_created(response.header)
            if not response.events:
                return
        if response.canceled:
            self._watches.pop(response.watch_id, None)
            if response.compact_revision:
                error: EtcdError = CompactedError(
                    f"watch start revision {watch.next_revision} has been compacted "
                    f"(compact revision {response.compact_revision})",
                    compact_revision=response.compact_revision,
                )
            else:
                reason = response.cancel_reason or "the server canceled the watch"
                error = error_for_message(reason, WatchClosedError)
            self._finish(watch, error)
            return
        if not watch._deliver(response):
            self._pause(watch)

    def _retry_with_new_token(self, watch: AsyncWatch) -> bool:
        """etcd 3.5 judges a watch by the token its stream was opened with: once that
        token expired, the watch is refused as "permission denied". Open a new stream
        (it gets a new token) and try once more before believing the refusal."""
        if self._transport.config.username is None:
            return False
        if watch.refused_on >= 0 and self._stream_token > watch.refused_on:
            return False  # refused again on a stream opened since: it is meant
        watch.refused_on = self._stream_token
        self._broken.set()  # the re-open creates every active watch again, this one too
        self._wake.set()
        return True

    def _finish(self, watch: AsyncWatch, error: BaseException) -> None:
        self._active.pop(watch, None)
        watch._fail(error)

    async def close(self) -> None:
        self._closed = True
        for watch in list(self._active):
            self._finish(watch, ClientClosedError("the client was closed"))
        await self._stop()
