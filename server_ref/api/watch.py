"""The Watch service: one bidirectional stream per client, many watches on it
(etcd's serverWatchStream).

What each watcher is owed comes from mvcc/watchable.py; this module is the protocol
around it. A sender task per stream pulls the events every watcher is owed and sends
them, so nothing is buffered beyond one response: while the client does not read,
gRPC flow control holds the sender, and the history holds the events.

What the client sees matches etcd 3.5: a ``created`` response before any event of a
watch, whole revisions in every response (up to 1000 revisions per response),
``compact_revision`` and ``canceled`` when the start revision was compacted,
``watch_id = -1`` answers to progress requests, periodic progress notifications, and
fragments when asked for. One deliberate difference: a progress response is sent
only after every watcher of the stream has been given its events up to the revision
it announces (etcd 3.5.1 may announce a revision while a watcher is still behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import grpc

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..mvcc import watchable
from ..mvcc.store import Store
from ..server.server import EtcdServer
from ..wire import field_size
from .handlers import serve_as

_jitter = random.Random()  # our own: the host application's global random state is not ours
CONTROL_QUEUE = 64  # created/canceled/progress answers waiting for the sender

_NOPUT = rpc_pb2.WatchCreateRequest.NOPUT
_NODELETE = rpc_pb2.WatchCreateRequest.NODELETE


class Writer(Protocol):
    async def write(self, message: rpc_pb2.WatchResponse) -> None: ...


class Watcher(watchable.Watcher):
    """A watch of the stream: what it is owed, and where it stands in the protocol."""

    __slots__ = ("announced", "fragment", "id", "progress_notify", "quiet")

    def __init__(self, watch_id: int, creq: rpc_pb2.WatchCreateRequest, next_rev: int) -> None:
        super().__init__(
            creq.key or b"\x00",  # an empty key watches from the smallest key
            creq.range_end,
            next_rev,
            no_put=_NOPUT in creq.filters,
            no_delete=_NODELETE in creq.filters,
            prev_kv=creq.prev_kv,
        )
        self.id = watch_id
        self.fragment = creq.fragment
        self.progress_notify = creq.progress_notify
        self.announced = False  # its "created" response has been sent
        self.quiet = True  # no events sent since the last progress tick


@dataclass(frozen=True, slots=True)
class _Control:
    response: rpc_pb2.WatchResponse | None  # None: a progress request
    announces: Watcher | None = None


class WatchSession:
    """Serves one bidirectional Watch stream."""

    def __init__(
        self,
        store: Store,
        writer: Writer,
        header: Callable[[int], rpc_pb2.ResponseHeader],
        progress_interval: float | None,
        max_request_bytes: int,
        permitted: Callable[[bytes, bytes], bool] = lambda key, range_end: True,
    ) -> None:
        self._store = store
        self._permitted = permitted
        self._writer = writer
        self._header = header
        self._progress_interval = progress_interval
        self._max_bytes = max_request_bytes
        self._watchers: dict[int, Watcher] = {}
        self._next_id = 0
        self._control: asyncio.Queue[_Control] = asyncio.Queue(CONTROL_QUEUE)
        self._wake = asyncio.Event()
        self._ending: E.ErrorSpec | None = None

    @property
    def watcher_count(self) -> int:
        """The stream's live watchers (etcd_debugging_mvcc_watcher_total)."""
        return len(self._watchers)

    def end(self, spec: E.ErrorSpec) -> None:
        """End the stream with ``spec``, each watch first canceled with its message as
        the reason: a client that would open the stream again and go on from its next
        revision (the history it counts in is gone: a reset) is told its watches ended."""
        self._ending = spec
        self._wake.set()

    async def run(self, requests: AsyncIterator[rpc_pb2.WatchRequest]) -> None:
        """Serve until the client cancels or the stream breaks. A client that half-closes
        still gets its watches' events, as from etcd 3.5.1 (probed: its recvLoop ends
        without ending the stream; etcd's JSON gateway half-closes after the body)."""
        self._store.add_listener(self._wake.set)
        recv = asyncio.ensure_future(self._recv_loop(requests))
        send = asyncio.ensure_future(self._send_loop())
        try:
            done, _ = await asyncio.wait({recv, send}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            if send not in done:  # the requests ended: the watches go on
                await send
        finally:
            self._store.remove_listener(self._wake.set)
            for task in (recv, send):
                task.cancel()
            await asyncio.gather(recv, send, return_exceptions=True)

    # ---- requests ----

    async def _recv_loop(self, requests: AsyncIterator[rpc_pb2.WatchRequest]) -> None:
        async for req in requests:
            kind = req.WhichOneof("request_union")
            control: _Control | None
            if kind == "create_request":
                control = self._create(req.create_request)
            elif kind == "cancel_request":
                control = self._cancel(req.cancel_request.watch_id)
            elif kind == "progress_request":
                control = _Control(None)
            else:
                continue  # etcd ignores a request it does not understand
            if control is not None:
                await self._control.put(control)
                self._wake.set()

    def _create(self, creq: rpc_pb2.WatchCreateRequest) -> _Control:
        rev = self._store.rev
        # checked first, as etcd 3.5.1 checks it: after the empty key becomes "\0" and a
        # from-key end ("\0") is dropped, so that a from-key watch is checked as a
        # watch of its one key
        key = creq.key or b"\x00"
        if not self._permitted(key, b"" if creq.range_end == b"\x00" else creq.range_end):
            denied = rpc_pb2.WatchResponse(
                header=self._header(rev),
                watch_id=creq.watch_id,
                created=True,
                canceled=True,
                cancel_reason=E.WATCH_PERMISSION_DENIED,
            )
            return _Control(denied)
        end = creq.range_end
        error = None
        watch_id = creq.watch_id
        if end and end != b"\x00" and key >= end:
            error = E.WATCH_EMPTY_RANGE
        elif watch_id == 0:
            while self._next_id in self._watchers:
                self._next_id += 1
            watch_id = self._next_id
            self._next_id += 1
        elif watch_id in self._watchers:
            error = E.WATCH_DUPLICATE_ID
        resp = rpc_pb2.WatchResponse(header=self._header(rev), created=True)
        if error is not None:
            resp.watch_id = -1
            resp.canceled = True
            resp.cancel_reason = error
            return _Control(resp)
        start = creq.start_revision or rev + 1
        watcher = Watcher(watch_id, creq, start)
        self._watchers[watch_id] = watcher
        resp.watch_id = watch_id
        return _Control(resp, watcher)

    def _cancel(self, watch_id: int) -> _Control | None:
        if self._watchers.pop(watch_id, None) is None:
            return None  # etcd does not answer a cancel of an unknown watch
        resp = rpc_pb2.WatchResponse(
            header=self._header(self._store.rev), watch_id=watch_id, canceled=True
        )
        return _Control(resp)

    # ---- responses ----

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._progress_interval
        next_tick = loop.time() + self._jittered(interval) if interval else None
        while True:
            self._wake.clear()
            if self._ending is not None:
                await self._cancel_all(self._ending)
            while not self._control.empty():
                control = self._control.get_nowait()
                if control.response is None:
                    target = self._store.rev
                    await self._catch_up_all(target)
                    await self._writer.write(
                        rpc_pb2.WatchResponse(header=self._header(target), watch_id=-1)
                    )
                    continue
                await self._writer.write(control.response)
                if control.announces is not None:
                    control.announces.announced = True
            await self._catch_up_all(self._store.rev)
            if next_tick is not None and interval and loop.time() >= next_tick:
                await self._progress_tick()
                next_tick = loop.time() + self._jittered(interval)
            if self._wake.is_set() or not self._control.empty():
                continue
            timeout = None if next_tick is None else max(0.0, next_tick - loop.time())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _cancel_all(self, spec: E.ErrorSpec) -> None:
        """Cancel every watch with ``spec``'s message, then end the stream with it."""
        header = self._header(0)
        for watch_id in list(self._watchers):
            del self._watchers[watch_id]
            await self._writer.write(
                rpc_pb2.WatchResponse(
                    header=header, watch_id=watch_id, canceled=True, cancel_reason=spec.message
                )
            )
        raise ServerError(spec)

    @staticmethod
    def _jittered(interval: float) -> float:
        # etcd adds up to 10% so that watchers created together do not tick together
        return interval + _jitter.uniform(0, interval / 10)

    async def _catch_up_all(self, target: int) -> None:
        for watcher in list(self._watchers.values()):
            while (
                watcher.announced
                and watcher.next_rev <= target
                and self._watchers.get(watcher.id) is watcher
            ):
                await self._catch_up(watcher, target)

    async def _catch_up(self, w: Watcher, target: int) -> None:
        """Send ``w`` its events from ``w.next_rev``, at most one response's worth."""
        store = self._store
        if watchable.compacted(store, w):
            del self._watchers[w.id]
            header = self._header(0)  # etcd leaves the revision unset here
            await self._writer.write(
                rpc_pb2.WatchResponse(
                    header=header,
                    watch_id=w.id,
                    compact_revision=store.compact_rev,
                    canceled=True,
                )
            )
            return
        last, versions = watchable.take(store, w, target)
        if not versions:
            return
        resp = rpc_pb2.WatchResponse(header=self._header(last), watch_id=w.id)
        add, prev_kv = resp.events.add, w.prev_kv
        for v in versions:
            watchable.fill_event(add(), store, v, prev_kv)
        w.quiet = False
        if w.fragment:
            await self._send_fragments(resp)
        else:
            await self._writer.write(resp)

    async def _send_fragments(self, resp: rpc_pb2.WatchResponse) -> None:
        """Split a response larger than the request limit, as etcd's sendFragments."""
        limit = self._max_bytes
        if len(resp.events) < 2 or resp.ByteSize() < limit:
            await self._writer.write(resp)
            return
        events = list(resp.events)
        del resp.events[:]
        base = resp.ByteSize() + 2  # + the fragment flag
        i = 0
        while i < len(events):
            part = rpc_pb2.WatchResponse()
            part.CopyFrom(resp)
            size = base
            while i < len(events):
                grow = field_size(events[i].ByteSize())
                if part.events and size + grow >= limit:
                    break
                part.events.append(events[i])
                size += grow
                i += 1
            part.fragment = i < len(events)
            await self._writer.write(part)

    async def _progress_tick(self) -> None:
        target = self._store.rev
        await self._catch_up_all(target)
        for w in list(self._watchers.values()):
            if w.progress_notify and w.announced and w.quiet:
                await self._writer.write(
                    rpc_pb2.WatchResponse(header=self._header(target), watch_id=w.id)
                )
            w.quiet = True


class WatchService:
    def __init__(self, server: EtcdServer) -> None:
        self._server = server

    async def Watch(
        self,
        request_iterator: AsyncIterator[rpc_pb2.WatchRequest],
        context: grpc.aio.ServicerContext[rpc_pb2.WatchRequest, rpc_pb2.WatchResponse],
    ) -> None:
        server = self._server
        config = server.config
        serve_as(context)
        session = WatchSession(
            server.store,
            context,
            server.header,
            config.progress_notify_interval,
            config.max_request_bytes,
            server.read_permitted,
        )
        end = functools.partial(session.end, E.STOPPED)
        server.add_reset_listener(end)
        server.metrics.watch_streams.add(session)
        try:
            await session.run(request_iterator)
        except ServerError as err:
            await context.abort(err.spec.code, err.spec.message)
        finally:
            server.metrics.watch_streams.discard(session)
            server.remove_reset_listener(end)
