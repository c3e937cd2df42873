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

from .. import _check, _retry
from .. import _methods as M
from .._namespace import Namespace
from .._proto import v3election_pb2
from .._types import KeyValue
from ..errors import DeadlineExceededError, WatchClosedError, from_rpc_error, show_key
from ._primitives import AsyncServerStream, sleep
from ._transport import AsyncTransport

_BACKOFF = 0.05  # seconds before opening the stream again on another endpoint
_CLOSED = object()


class AsyncElectionObserver:
    """The leader of one election each time it changes: ``get`` or ``async for``."""

    def __init__(
        self, transport: AsyncTransport, name: bytes, namespace: Namespace | None = None
    ) -> None:
        self._transport = transport
        self._namespace = namespace  # observed through a view: keys relative to it
        self._request = v3election_pb2.LeaderRequest(
            name=name if namespace is None else namespace.key(name)
        )
        self._last: tuple[bytes, int] | None = None
        self._stream: AsyncServerStream | None = None
        self._closed = False

    async def get(self, timeout: float | None = None) -> KeyValue | None:
        """The leader, once it differs from the last one returned; None when
        ``timeout`` seconds pass first ("nothing yet"). Raises WatchClosedError once
        ``close()`` was called (a ``get`` in progress then ends with it)."""
        found = await self._next(_check.wait_timeout(timeout))
        if found is _CLOSED:
            raise WatchClosedError(f"observe {show_key(self._request.name)}: closed")
        return found  # type: ignore[return-value]

    async def _next(self, timeout: float | None) -> object:
        """The next leader; None when ``timeout`` passed; _CLOSED once closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            generation = self._transport.token_generation
            conn, call = await self._transport.open_server_stream(M.OBSERVE, self._request, left)
            try:
                found = await self._follow(call)
            except grpc.RpcError as err:
                if self._closed:
                    break
                if _retry.is_invalid_token(err):
                    await self._transport.authenticate(stale=generation)
                    continue
                if not _retry.endpoint_failed(err):
                    error = from_rpc_error(
                        err, conn.endpoint.display, operation="observe", key=self._request.name
                    )
                    # the stream's deadline is the wait's (etcd may word it as UNKNOWN
                    # "context deadline exceeded"): that is "nothing yet"
                    if isinstance(error, DeadlineExceededError) and deadline is not None:
                        return None
                    raise error from None
                await self._transport.stream_failed(conn, err)
                await sleep(_BACKOFF)  # the endpoint went away: open the stream on the next
                continue
            if found is not None:
                return found
        return _CLOSED

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
                    if self._namespace is not None:
                        self._namespace.inbound(M.LEADER, response)
                    return KeyValue(kv)
        finally:
            self._stream = None
            call.cancel()
        return None

    def __aiter__(self) -> AsyncElectionObserver:
        return self

    async def __anext__(self) -> KeyValue:
        found = await self._next(None)
        if found is _CLOSED or found is None:
            raise StopAsyncIteration
        return found  # type: ignore[return-value]

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
