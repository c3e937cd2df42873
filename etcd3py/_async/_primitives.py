"""Concurrency primitives of the async face (hand-written; the sync twin is too).

Everything the client does that cannot be rewritten token by token from async to
sync lives here and in ``etcd3py/_sync/_primitives.py``, with the same names minus
the ``Async`` prefix: events, queues, locks, background tasks, sleeping, and the
bidirectional gRPC stream. The async side runs on asyncio (grpc.aio needs it) and
uses anyio for events, locks and deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio
import grpc

T = TypeVar("T")
Empty = queue.Empty  # raised by AsyncQueue.get on timeout, as by queue.Queue.get
Full = queue.Full


async def sleep(seconds: float) -> None:
    await anyio.sleep(seconds)


def channel_ready(channel: grpc.aio.Channel) -> bool:
    """Whether the channel is connected now (without making it try to connect)."""
    return channel.get_state(try_to_connect=False) == grpc.ChannelConnectivity.READY


def running_loop() -> object:
    """The event loop the caller runs on (None outside one): grpc.aio channels belong
    to one loop."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AsyncFlag:
    """An event flag that can be waited for with a timeout (threading.Event's twin)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout: float | None = None) -> bool:
        """True when set; False when ``timeout`` seconds passed first."""
        if timeout is None:
            await self._event.wait()
            return True
        with anyio.move_on_after(timeout):
            await self._event.wait()
        return self._event.is_set()


class AsyncLock:
    def __init__(self) -> None:
        self._lock = anyio.Lock()

    async def __aenter__(self) -> None:
        await self._lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


class AsyncQueue(Generic[T]):
    """A FIFO with an optional bound; ``put_nowait`` raises Full past it.

    A waiting ``get`` parks on a future of its own, which ``put_nowait`` resolves:
    the watch delivery path crosses this queue once per response, and an
    ``asyncio.Event`` would add a coroutine, a future and its bookkeeping per wait.
    """

    def __init__(self, maxsize: int = 0) -> None:
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._getters: deque[asyncio.Future[None]] = deque()

    def qsize(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return self._maxsize > 0 and len(self._items) >= self._maxsize

    def put_nowait(self, item: T, force: bool = False) -> None:
        """Append ``item``; past the bound raise Full, unless ``force``."""
        if not force and self.full():
            raise Full
        self._items.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def get_nowait(self) -> T:
        if not self._items:
            raise Empty
        return self._items.popleft()

    async def get(self, timeout: float | None = None) -> T:
        """The next item; raises Empty when ``timeout`` seconds pass first."""
        items = self._items
        if not items:
            if timeout is None:
                await self._until_item()
            else:
                with anyio.move_on_after(timeout):
                    await self._until_item()
                if not items:
                    raise Empty
        return items.popleft()

    async def _until_item(self) -> None:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                if getter.done() and not getter.cancelled():
                    self._wake_one()  # woken, but leaving: the item goes to the next getter
                else:
                    getter.cancel()
                    with contextlib.suppress(ValueError):
                        self._getters.remove(getter)
                raise


class AsyncTask:
    """A background task owned by the client; ``cancel`` stops it."""

    def __init__(self, fn: Callable[..., Awaitable[Any]], *args: Any, name: str) -> None:
        self._task = asyncio.ensure_future(fn(*args))
        self._task.set_name(name)

    def cancel(self) -> None:
        self._task.cancel()

    def done(self) -> bool:
        return self._task.done()

    async def join(self, timeout: float | None = None) -> None:
        """Wait for the task to end (after ``cancel``, it ends at its next await)."""
        with anyio.move_on_after(timeout), contextlib.suppress(BaseException):
            await asyncio.shield(self._task)


def spawn(fn: Callable[..., Awaitable[Any]], *args: Any, name: str) -> AsyncTask:
    return AsyncTask(fn, *args, name=name)


class AsyncBidiStream:
    """One bidirectional gRPC call: ``send`` requests, ``recv`` responses (None at the end)."""

    def __init__(
        self,
        multicallable: grpc.aio.StreamStreamMultiCallable[Any, Any],
        metadata: tuple[tuple[str, str], ...],
    ) -> None:
        self._call = multicallable(metadata=metadata)
        # read through the call's own iterator (what the generated stubs' users do):
        # read() adds a coroutine and two checks per message
        self._responses = self._call.__aiter__()

    async def send(self, request: Any) -> None:
        await self._call.write(request)

    async def recv(self) -> Any:
        try:
            return await self._responses.__anext__()
        except StopAsyncIteration:
            return None

    def cancel(self) -> None:
        self._call.cancel()


class AsyncServerStream:
    """One server-streaming gRPC call: ``recv`` responses (None at the end or once cancelled).

    ``cancel`` may come from another task while one waits in ``recv``: the wait ends
    with None, and a cancellation of the waiting task itself still propagates.
    """

    def __init__(self, call: grpc.aio.UnaryStreamCall[Any, Any]) -> None:
        self._call = call
        self._scope: anyio.CancelScope | None = None
        self._cancelled = False

    async def recv(self) -> Any:
        if not self._cancelled:
            self._scope = scope = anyio.CancelScope()  # a scope serves one wait only
            with scope:
                response = await self._call.read()
                return None if response is grpc.aio.EOF else response
        self._call.cancel()  # reached only once cancel() was called
        return None

    def cancel(self) -> None:
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()
