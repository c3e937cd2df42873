"""AsyncEventRecorder: every change under a prefix during a test, in order."""

from __future__ import annotations

import time
from types import TracebackType

from etcd3py import AsyncClient, AsyncWatch, Event
from etcd3py._async._primitives import AsyncFlag, AsyncTask, spawn

from .._errors import WaitTimeout
from ._waits import DEFAULT_TIMEOUT


class AsyncEventRecorder:
    """Record the events under ``prefix`` from the moment it starts.

    ``async with AsyncEventRecorder(client, "jobs/") as recorder: ...`` then
    ``recorder.events`` (all so far) or ``await recorder.wait_for(3)`` (until three
    have arrived). The watch is confirmed by etcd before ``start`` returns, so every
    change made after it is recorded.
    """

    def __init__(self, client: AsyncClient, prefix: str | bytes, *, prev_kv: bool = False) -> None:
        self._client = client
        self._prefix = prefix
        self._prev_kv = prev_kv
        self._events: list[Event] = []
        self._arrived = AsyncFlag()
        self._error: BaseException | None = None
        self._watch: AsyncWatch | None = None
        self._task: AsyncTask | None = None

    def __repr__(self) -> str:
        return f"<EventRecorder {self._prefix!r}: {len(self._events)} events>"

    @property
    def events(self) -> list[Event]:
        """The events recorded so far (a copy), oldest first."""
        return list(self._events)

    async def start(self) -> AsyncEventRecorder:
        """Start recording: return once etcd confirmed the watch (``with`` does this)."""
        watch = self._client.watch(self._prefix, prefix=True, prev_kv=self._prev_kv)
        await watch.start()
        self._watch = watch
        self._task = spawn(self._follow, watch, name="etcd3py-event-recorder")
        return self

    async def _follow(self, watch: AsyncWatch) -> None:
        try:
            async for response in watch:
                self._events.extend(response.events)
                self._arrived.set()
        except Exception as error:  # a compaction, a lost connection: tell the waiter
            self._error = error
        self._arrived.set()

    async def wait_for(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> list[Event]:
        """Wait until at least ``count`` events were recorded; return them all.

        Raises WaitTimeout (with what was recorded) when ``timeout`` passes first,
        and re-raises the watch's error if it failed.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._arrived.clear()
            if len(self._events) >= count:
                return self.events
            if self._error is not None:
                raise self._error
            left = deadline - time.monotonic()
            if left <= 0 or not await self._arrived.wait(left):
                seen = [(e.type.name, e.key) for e in self._events]
                raise WaitTimeout(
                    f"{count} events under {self._prefix!r} expected within {timeout} s; "
                    f"recorded {len(seen)}: {seen}"
                )

    async def close(self) -> None:
        """Stop recording (what was recorded stays readable)."""
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.cancel()
        if self._task is not None:
            await self._task.join(DEFAULT_TIMEOUT)

    async def __aenter__(self) -> AsyncEventRecorder:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
