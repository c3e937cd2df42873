"""Following an election through etcd's Election.Observe stream.

Each ``get`` opens the stream afresh with the caller's deadline: etcd answers with
the current leader at once, then with every change. Reporting only what differs
from the last answer (key and mod revision) makes a re-opened stream, after a
failure or a timeout, continue where the last left off. A leader that comes and
goes between two ``get`` calls is not reported: observing gives the leadership's
latest state, not its log (watch the election's prefix for that).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import grpc

from .. import _methods as M
from .. import _retry
from .._errors import DeadlineExceededError, from_rpc_error
from .._proto import v3election_pb2
from .._types import KeyValue
from ._primitives import AsyncServerStream, sleep
from ._transport import AsyncTransport

_BACKOFF = 0.05  # seconds before opening the stream again on another endpoint


class AsyncElectionObserver:
    """The leader of one election each time it changes: ``get`` or ``async for``."""

    def __init__(self, transport: AsyncTransport, name: bytes) -> None:
        self._transport = transport
        self._request = v3election_pb2.LeaderRequest(name=name)
        self._last: tuple[bytes, int] | None = None
        self._stream: AsyncServerStream | None = None
        self._closed = False

    async def get(self, timeout: float | None = None) -> KeyValue | None:
        """The leader, once it differs from the last one returned; None once closed.

        Raises DeadlineExceededError when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            generation = self._transport.token_generation
            conn, call = await self._transport.open_server_stream(M.OBSERVE, self._request, left)
            try:
                found = await self._follow(call)
            except grpc.RpcError as err:
                if self._closed:
                    return None
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    break
                if _retry.is_invalid_token(err):
                    await self._transport.authenticate(stale=generation)
                    continue
                if not _retry.endpoint_failed(err):
                    raise from_rpc_error(err) from err
                await self._transport.stream_failed(conn, err)
                await sleep(_BACKOFF)  # the endpoint went away: open the stream on the next
                continue
            if found is not None:
                return found
        if self._closed:
            return None
        raise DeadlineExceededError(f"no new leader of {self._request.name!r} before the timeout")

    async def _follow(self, call: Any) -> KeyValue | None:
        """Read one stream until it shows a leader not yet reported."""
        self._stream = stream = AsyncServerStream(call)
        if self._closed:  # closed while the stream was opening
            stream.cancel()
        try:
            while (response := await stream.recv()) is not None:
                kv = response.kv
                seen = (kv.key, kv.mod_revision)
                if seen != self._last:
                    self._last = seen
                    return KeyValue(kv)
        finally:
            self._stream = None
            call.cancel()
        return None

    def __aiter__(self) -> AsyncElectionObserver:
        return self

    async def __anext__(self) -> KeyValue:
        found = await self.get()
        if found is None:
            raise StopAsyncIteration
        return found

    def close(self) -> None:
        """Stop: a ``get`` in progress returns None."""
        self._closed = True
        stream = self._stream
        if stream is not None:
            stream.cancel()

    async def __aenter__(self) -> AsyncElectionObserver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
