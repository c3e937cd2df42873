"""Concurrency primitives of the sync face (hand-written twin of _async/_primitives.py).

Threads stand in for tasks; blocking calls stand in for awaits. Background threads
are daemons and stop when their loop sees the client closing (every blocking call
they make has a timeout or is unblocked by cancelling its gRPC call).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import grpc

T = TypeVar("T")
Empty = queue.Empty
Full = queue.Full
_END = object()


def sleep(seconds: float) -> None:
    time.sleep(seconds)


_READY = 2  # grpc_connectivity_state GRPC_CHANNEL_READY


def channel_ready(channel: grpc.Channel) -> bool:
    """Whether the channel is connected now (without making it try to connect).

    grpc's sync channel shows its state only through a subscription (a thread per
    channel); its core channel answers directly. Unknown (another grpc) counts as
    connected, so that a timeout then stays a timeout.
    """
    core = getattr(channel, "_channel", None)
    check = getattr(core, "check_connectivity_state", None)
    if check is None:
        return True
    try:
        return bool(check(False) == _READY)
    except Exception:
        return True


def running_loop() -> object:
    """Threads have no event loop: the sync face may be used from any of them."""
    return None


class Flag:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


class Lock:
    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


class Queue(Generic[T]):
    """A FIFO with an optional bound; ``put_nowait`` raises Full past it.

    Built on ``queue.SimpleQueue``: its hand-off between threads is one C-level lock,
    where a ``threading.Condition`` costs a fresh lock and Python bookkeeping per wait
    (the watch delivery path crosses this queue once per response). The bound is
    checked before the put: exact for the single producer that respects it (a
    watch's stream reader); forced puts (an end, an error) may go past it.
    """

    def __init__(self, maxsize: int = 0) -> None:
        self._items: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._maxsize = maxsize

    def qsize(self) -> int:
        return self._items.qsize()

    def full(self) -> bool:
        return self._maxsize > 0 and self._items.qsize() >= self._maxsize

    def put_nowait(self, item: T, force: bool = False) -> None:
        if not force and self.full():
            raise Full
        self._items.put(item)

    def get_nowait(self) -> T:
        return self._items.get_nowait()

    def get(self, timeout: float | None = None) -> T:
        """The next item; raises Empty when ``timeout`` seconds pass first."""
        return self._items.get(True, timeout)


class Task:
    """A background thread owned by the client."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str) -> None:
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except BaseException:
            if not self._cancelled:
                raise

    def cancel(self) -> None:
        """Mark the task cancelled; its loop must notice (the client closes its streams)."""
        self._cancelled = True

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)


def spawn(fn: Callable[..., Any], *args: Any, name: str) -> Task:
    return Task(fn, *args, name=name)


class BidiStream:
    """One bidirectional gRPC call fed from a queue: ``send``, ``recv`` (None at the end)."""

    def __init__(
        self,
        multicallable: grpc.StreamStreamMultiCallable[Any, Any],
        metadata: tuple[tuple[str, str], ...],
    ) -> None:
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._call = multicallable(self._request_iter(), metadata=metadata)
        self._responses: Iterator[Any] = iter(self._call)

    def _request_iter(self) -> Iterator[Any]:
        while (request := self._requests.get()) is not _END:
            yield request

    def send(self, request: Any) -> None:
        self._requests.put(request)

    def recv(self) -> Any:
        try:
            return next(self._responses)
        except StopIteration:
            return None

    def cancel(self) -> None:
        self._requests.put(_END)
        self._call.cancel()


class ServerStream:
    """One server-streaming gRPC call: ``recv`` responses (None at the end or once cancelled).

    ``cancel`` may come from another thread while one waits in ``recv``: the wait
    ends with None.
    """

    def __init__(self, call: Any) -> None:
        self._call = call
        self._responses: Iterator[Any] = iter(call)
        self._cancelled = False

    def recv(self) -> Any:
        try:
            return next(self._responses)
        except StopIteration:
            return None
        except grpc.RpcError:
            if self._cancelled:
                return None
            raise

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()
