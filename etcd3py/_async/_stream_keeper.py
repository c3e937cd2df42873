"""A long-lived bidirectional stream, opened when there is work and re-opened when it breaks.

The keep-alive manager and the watch manager are both such keepers: one stream per
client, a background loop that sends, a reader that receives, and a reconnect
policy (the next endpoint, exponential backoff while nothing gets through).
Subclasses say when there is work and what to do with it and with each response.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import grpc

from .. import _metrics
from .._methods import Method
from .._retry import jittered_pause
from ._primitives import AsyncFlag, AsyncTask, sleep, spawn

if TYPE_CHECKING:
    from ._transport import AsyncConnection, AsyncTransport

log = logging.getLogger("etcd3py")


class AsyncStreamKeeper:
    def __init__(self, transport: AsyncTransport, method: Method, name: str) -> None:
        self._transport = transport
        self._method = method
        self._name = name
        self._wake = AsyncFlag()  # something to do: work arrived, the stream broke, ...
        self._broken = AsyncFlag()
        self._stream: Any = None
        self._conn: AsyncConnection | None = None
        self._reader: AsyncTask | None = None
        self._task: AsyncTask | None = None
        self._stream_error: BaseException | None = None
        self._received = False  # the current stream delivered something
        self._closed = False
        self._reopening = False  # the last stream broke: the next open is a re-open
        # endpoints tried since a stream last delivered something, and the last failure:
        # what a caller waiting on the stream is told when nothing gets through
        self.tried: dict[str, None] = {}
        self.last_failure: BaseException | None = None

    # ---- what subclasses provide ----

    def _has_work(self) -> bool:
        raise NotImplementedError

    def _on_open(self) -> None:
        """A new stream is up: everything must be (re)sent on it."""

    def _on_stream_down(self) -> None:
        """The stream is gone (or could not be opened)."""

    async def _work(self) -> None:
        """Send what is due on the open stream."""

    async def _idle(self) -> None:
        """Wait for the next thing to do (``self._wake`` is set by any news)."""
        await self._wake.wait()

    def _on_response(self, response: Any) -> None:
        raise NotImplementedError

    async def _before_close(self) -> None:
        """Last words on a stream about to be closed for lack of work."""

    # ---- the machinery ----

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = spawn(self._run, name=self._name)
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            self._wake.clear()  # before looking at the state: no wake-up can be missed
            if not self._has_work():
                try:
                    await self._before_close()
                except Exception as err:  # the stream ended meanwhile: it is closed anyway
                    log.debug("%s stream: last words not sent: %s", self._name, err)
                self._close_stream()
                await self._wake.wait()
                continue
            if self._stream is None:
                try:
                    await self._open()
                except Exception as err:  # no endpoint now: back off, then try again
                    log.debug("%s stream failed to open: %s", self._name, err)
                    self.last_failure = err
                    self._on_stream_down()
                    failures += 1
                    await sleep(jittered_pause(failures))
                    continue
            if not self._broken.is_set():  # nothing more goes on a broken stream
                try:
                    await self._work()
                except Exception as err:
                    log.debug("%s stream send failed: %s", self._name, err)
                    self._broken.set()
            if self._broken.is_set():
                failures = 1 if self._received else failures + 1
                if self._conn is not None:
                    await self._transport.stream_failed(self._conn, self._stream_error)
                self._reopening = True
                self._close_stream()
                self._on_stream_down()
                await sleep(jittered_pause(failures))
                continue
            await self._idle()

    async def _open(self) -> None:
        conn, stream = await self._transport.open_stream(self._method)
        self._conn, self._stream = conn, stream
        if self._reopening:
            self._reopening = False
            _metrics.stream_reopened(self._method)
        self.tried.setdefault(conn.endpoint.display)
        self._stream_error = None
        self._received = False
        self._broken.clear()
        self._on_open()
        self._reader = spawn(self._read, stream, name=f"{self._name}-reader")

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None

    async def _read(self, stream: Any) -> None:
        error: BaseException | None = None
        try:
            while True:
                response = await stream.recv()
                if response is None:
                    break
                if not self._received:
                    self._received = True
                    self.tried.clear()
                    self.last_failure = None
                self._on_response(response)
        except Exception as err:
            error = err
        if stream is self._stream and not self._closed:
            log.debug("%s stream ended: %s", self._name, error)
            self._stream_error = error
            if error is not None:
                self.last_failure = error
            self._broken.set()
            self._wake.set()

    def unreachable(self) -> bool:
        """Whether nothing has got through lately because no endpoint could be reached
        (as opposed to a server that is reached but slow to answer)."""
        if self._received:
            return False
        failure = self.last_failure
        if isinstance(failure, grpc.RpcError):
            return failure.code() == grpc.StatusCode.UNAVAILABLE
        conn = self._conn
        return conn is None or not conn.connected()

    async def _stop(self) -> None:
        self._closed = True
        self._close_stream()
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await self._task.join(1.0)
