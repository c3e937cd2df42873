"""Connections to the etcd endpoints, and calls over them.

One gRPC channel per endpoint. ``round_robin`` spreads calls over the endpoints
that have not failed lately; ``pick_first`` stays on one endpoint until it fails.
A failed call is repeated (tenacity, exponential backoff with full jitter, within
the call's deadline, on the next endpoint) only when that cannot apply a write
twice -- see ``etcd3py/_retry.py``. An expired auth token is renewed once and the
call repeated: etcd refuses such a call before doing anything.

The successful path does no more than pick an endpoint and call the cached stub.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from .. import _check, _metrics, _retry, _tracing
from .._config import ClientConfig, Endpoint
from .._methods import AUTHENTICATE, Method, Retry, describe
from .._ordering import CHECKED, KV_SERVICE, RevisionFloor, stale
from .._proto import rpc_pb2
from ..errors import (
    ArgumentError,
    AuthNotEnabledError,
    ClientClosedError,
    DeadlineExceededError,
    EtcdError,
    EventLoopError,
    UnavailableError,
    connection_failed,
    from_rpc_error,
)
from ._primitives import AsyncBidiStream, AsyncLock, channel_ready, running_loop, sleep

# Reconnect quickly after a member comes back (gRPC's defaults wait up to 2 minutes).
_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)
_STALE_PAUSE_MAX = 0.5  # seconds: the longest pause before asking again after a stale read
_DOWN_FOR = 1.0  # seconds a failed endpoint is skipped by round_robin (doubling, capped)
_DOWN_MAX = 30.0


class AsyncConnection:
    """One endpoint: its channel (created on first use) and its cached stubs."""

    def __init__(self, endpoint: Endpoint, config: ClientConfig) -> None:
        self.endpoint = endpoint
        self._config = config
        self._channel: Any = None
        self._unary: dict[Method, Any] = {}
        self._streams: dict[Method, Any] = {}
        self.failures = 0
        self.down_until = 0.0

    def channel(self) -> Any:
        if self._channel is None:
            options = _CHANNEL_OPTIONS + _keepalive_options(self._config)
            if self.endpoint.secure:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=self._config.ca_cert,
                    private_key=self._config.cert_key,
                    certificate_chain=self._config.cert_cert,
                )
                self._channel = grpc.aio.secure_channel(
                    self.endpoint.target, credentials, options=options
                )
            else:
                self._channel = grpc.aio.insecure_channel(self.endpoint.target, options=options)
        return self._channel

    def unary(self, method: Method) -> Any:
        stub = self._unary.get(method)
        if stub is None:
            stub = self._unary[method] = self.channel().unary_unary(
                method.path,
                request_serializer=method.request.SerializeToString,
                response_deserializer=method.response.FromString,
            )
        return stub

    def unary_stream(self, method: Method) -> Any:
        return self.channel().unary_stream(
            method.path,
            request_serializer=method.request.SerializeToString,
            response_deserializer=method.response.FromString,
        )

    def stream(self, method: Method) -> Any:
        stub = self._streams.get(method)
        if stub is None:
            stub = self._streams[method] = self.channel().stream_stream(
                method.path,
                request_serializer=method.request.SerializeToString,
                response_deserializer=method.response.FromString,
            )
        return stub

    def connected(self) -> bool:
        """Whether the channel is (still) connected: a call that timed out on a channel
        that never connected did not reach the server."""
        return self._channel is not None and channel_ready(self._channel)

    def failed(self) -> None:
        self.failures += 1
        pause = min(_DOWN_MAX, _DOWN_FOR * 2 ** (self.failures - 1))
        self.down_until = time.monotonic() + pause

    def recovered(self) -> None:
        self.failures = 0
        self.down_until = 0.0

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._unary.clear()
        self._streams.clear()
        if channel is not None:
            await channel.close()


def _keepalive_options(config: ClientConfig) -> tuple[tuple[str, Any], ...]:
    if config.keepalive_time is None:
        return ()
    options: list[tuple[str, Any]] = [
        ("grpc.keepalive_time_ms", int(config.keepalive_time * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    if config.keepalive_timeout is not None:
        options.append(("grpc.keepalive_timeout_ms", int(config.keepalive_timeout * 1000)))
    return tuple(options)


class AsyncTransport:
    """Endpoints, balancing, retries and credentials shared by all client calls."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.connections = [AsyncConnection(e, config) for e in config.endpoints]
        self._round_robin = config.lb_policy == "round_robin"
        self._next = 0
        self._base_metadata: tuple[tuple[str, str], ...] = (
            (("hasleader", "true"),) if config.require_leader else ()
        )
        self.metadata: tuple[tuple[str, str], ...] = self._base_metadata
        self._token: str | None = None
        self._token_generation = 0
        # credentials given but auth disabled on the cluster: go on without a token
        # (as etcd's Go client does) until a call says a user is needed again
        self._auth_off = False
        self._auth_lock = AsyncLock()
        self.closed = False
        self.on_first_call: Callable[[], None] | None = None  # the client's auto-sync start
        self._loop: object = None  # the event loop of the first call (async face only)
        self.floor = RevisionFloor() if config.ordering else None  # Client(ordering=True)

    def check_open(self) -> None:
        """Refuse a call on a closed client, or (async) from another event loop."""
        if self.closed:
            raise ClientClosedError("the client is closed")
        loop = running_loop()
        if loop is not self._loop and loop is not None:
            if self._loop is not None:
                raise EventLoopError(
                    "this client was first used on another event loop (each asyncio.run() "
                    "starts a new one): gRPC's asyncio channels serve one loop only, so "
                    "make the client inside the loop that uses it"
                )
            self._loop = loop

    # ---- endpoints ----

    def pick(self) -> AsyncConnection:
        conns = self.connections
        if len(conns) == 1:
            return conns[0]
        if not self._round_robin:
            return conns[self._next % len(conns)]
        now = time.monotonic()
        for _ in range(len(conns)):
            conn = conns[self._next % len(conns)]
            self._next += 1
            if conn.down_until <= now:
                return conn
        return min(conns, key=lambda c: c.down_until)  # all failed lately: the first back

    def connection_for(self, endpoint: str) -> AsyncConnection:
        for conn in self.connections:
            if endpoint in (conn.endpoint.display, conn.endpoint.target):
                return conn
        known = [c.endpoint.display for c in self.connections]
        raise ArgumentError("endpoint", endpoint, f"one of the client's endpoints {known}")

    def failed(self, conn: AsyncConnection) -> None:
        """Note that ``conn`` failed: round_robin skips it a while, pick_first moves on."""
        conn.failed()
        if not self._round_robin and self.connections[self._next % len(self.connections)] is conn:
            self._next += 1

    async def set_endpoints(self, endpoints: list[Endpoint]) -> None:
        """Replace the endpoint set (auto-sync), keeping connections that stay."""
        if not endpoints:
            return
        current = {c.endpoint.target: c for c in self.connections}
        kept = [
            current.pop(e.target) if e.target in current else AsyncConnection(e, self.config)
            for e in endpoints
        ]
        self.connections = kept
        for gone in current.values():
            await gone.close()

    # ---- calls ----

    async def call(
        self,
        method: Method,
        request: Any,
        timeout: float | None = None,
        endpoint: str | None = None,
    ) -> Any:
        """Call ``method``; on failure, retry when that is safe, else raise typed."""
        self.check_open()
        if self.on_first_call is not None:
            start, self.on_first_call = self.on_first_call, None
            start()
        if self._token is None and self._needs_token() and method is not AUTHENTICATE:
            await self.authenticate()
        seconds = self.config.timeout if timeout is None else _check.seconds(timeout, "timeout")
        deadline = time.monotonic() + seconds
        conn = self.pick() if endpoint is None else self.connection_for(endpoint)
        floor = self.floor if method.service == KV_SERVICE else None
        seen = 0 if floor is None else floor.revision  # before the call, as Go's guard does
        if _tracing.enabled() or _metrics.enabled():
            response, conn = await self._observed(method, request, deadline, conn, endpoint)
        else:
            try:
                response = await conn.unary(method)(
                    request, timeout=seconds, metadata=self.metadata
                )
            except grpc.RpcError as err:
                response, conn = await self._recover(method, request, deadline, conn, err, endpoint)
            else:
                if conn.failures:
                    conn.recovered()
        if floor is not None:
            return await self._in_order(
                floor, seen, method, request, deadline, response, conn, endpoint
            )
        return response

    async def _in_order(
        self,
        floor: RevisionFloor,
        seen: int,
        method: Method,
        request: Any,
        deadline: float,
        response: Any,
        conn: AsyncConnection,
        endpoint: str | None,
    ) -> Any:
        """The ordering guard on a KV answer: a read answered below ``seen`` (the highest
        revision seen when it began) is asked again elsewhere, until the deadline (see
        _ordering.py); every answer that is returned raises the floor."""
        newest = 0
        behind: dict[str, None] = {}
        backoff = _retry.Backoff(deadline, most=_STALE_PAUSE_MAX)
        while response.header.revision < seen and method in CHECKED:
            newest = max(newest, response.header.revision)
            behind.setdefault(conn.endpoint.display)
            self.failed(conn)  # round_robin skips it a while, pick_first moves on
            pause = backoff.next()
            if pause is None:
                raise stale(seen, newest, list(behind), describe(method, request)[0])
            await sleep(pause)
            conn = self.pick() if endpoint is None else self.connection_for(endpoint)
            try:
                try:
                    response = await self._attempt(method, request, deadline, conn)
                except grpc.RpcError as err:
                    response, conn = await self._recover(
                        method, request, deadline, conn, err, endpoint
                    )
            except _DeadlinePassed:
                raise stale(seen, newest, list(behind), describe(method, request)[0]) from None
            except (UnavailableError, DeadlineExceededError) as err:
                # the others could not be reached before the deadline: the answers had
                # were all behind, which is what the caller must hear
                raise stale(seen, newest, list(behind), describe(method, request)[0]) from err
        floor.raise_to(response.header.revision)
        return response

    async def _attempt(
        self, method: Method, request: Any, deadline: float, conn: Any, attempt: int = 1
    ) -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlinePassed
        if _tracing.enabled():
            with _tracing.rpc_span(method, conn.endpoint, attempt):
                response = await conn.unary(method)(
                    request, timeout=remaining, metadata=self.metadata
                )
        else:
            response = await conn.unary(method)(request, timeout=remaining, metadata=self.metadata)
        if conn.failures:
            conn.recovered()
        return response

    async def _observed(
        self, method: Method, request: Any, deadline: float, conn: Any, endpoint: str | None
    ) -> tuple[Any, AsyncConnection]:
        """The call with a span per attempt and its duration and outcome measured."""
        measured = _metrics.enabled()
        start = time.perf_counter() if measured else 0.0
        outcome = "ok"
        try:
            try:
                return await self._attempt(method, request, deadline, conn), conn
            except grpc.RpcError as err:
                return await self._recover(method, request, deadline, conn, err, endpoint)
        except BaseException as err:
            outcome = type(err).__name__
            raise
        finally:
            if measured:
                _metrics.call_done(method, time.perf_counter() - start, outcome)

    async def _recover(
        self,
        method: Method,
        request: Any,
        deadline: float,
        conn: AsyncConnection,
        err: grpc.RpcError,
        endpoint: str | None,
    ) -> tuple[Any, AsyncConnection]:
        """The slow path: decide whether and where to repeat a failed call."""
        state = _Failure(conn, err, self._token_generation)
        if not await self._should_repeat(method, state):
            raise self._typed(err, state, method, request)

        def stop(retry_state: RetryCallState) -> bool:
            return time.monotonic() >= deadline

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, grpc.RpcError)),
            stop=stop,
            wait=_retry.pause_before(deadline),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if endpoint is None:
                        left, state.conn = state.conn, self.pick()
                        if state.conn is not left:
                            _metrics.failed_over(left.endpoint.display)
                    state.tried.setdefault(state.conn.endpoint.display)
                    _metrics.retried(method)
                    try:
                        number = attempt.retry_state.attempt_number + 1  # the first failed
                        answer = await self._attempt(method, request, deadline, state.conn, number)
                        return answer, state.conn
                    except grpc.RpcError as failure:
                        state.error = failure
                        if not await self._should_repeat(method, state):
                            raise self._typed(failure, state, method, request) from None
                        raise
        except (_DeadlinePassed, grpc.RpcError):
            pass
        raise self._typed(state.error, state, method, request)

    async def _should_repeat(self, method: Method, state: _Failure) -> bool:
        # etcd checks the token, and the user's rights, before it applies anything: a
        # call refused for either may be repeated with fresh credentials, writes too
        err = state.error
        stale_credentials = _retry.is_invalid_token(err) or (
            _retry.is_user_empty(err) and self._auth_off  # auth was turned back on
        )
        if stale_credentials and self.config.username is not None and state.auth_retries < 2:
            state.auth_retries += 1
            self._auth_off = False
            await self.authenticate(stale=state.token)
            state.token = self._token_generation
            return True
        if _retry.endpoint_failed(err):
            self.failed(state.conn)
        return _retry.may_retry(err, method.retry)

    def _typed(
        self, err: grpc.RpcError, state: _Failure, method: Method, request: Any
    ) -> EtcdError:
        """The typed error for the call's last failure, saying what failed where."""
        operation, key = describe(method, request)
        if _retry.never_sent(err) or (
            err.code() == grpc.StatusCode.DEADLINE_EXCEEDED and not state.conn.connected()
        ):
            return connection_failed(err, operation, key, list(state.tried))
        revision = getattr(request, "revision", 0) if method.name == "Range" else 0
        error = from_rpc_error(
            err, state.conn.endpoint.display, operation=operation, key=key, revision=revision
        )
        if method.retry is Retry.WRITE and _retry.outcome_unknown(err):
            error.outcome_unknown = True
        return error

    # ---- streams ----

    async def open_stream(self, method: Method) -> tuple[AsyncConnection, AsyncBidiStream]:
        """Open a bidirectional stream on the next endpoint (failures surface on use).

        With credentials, every stream gets a token fetched for it: etcd checks the
        token a stream was opened with for as long as the stream lives (a watch
        created on it later is refused once that token expired), as etcd's Go client
        does.
        """
        self.check_open()
        if self._needs_token():
            await self.authenticate(stale=self._token_generation)
        conn = self.pick()
        return conn, AsyncBidiStream(conn.stream(method), self.metadata)

    @property
    def token_generation(self) -> int:
        """Increases every time a token is fetched."""
        return self._token_generation

    def _needs_token(self) -> bool:
        return self.config.username is not None and not self._auth_off

    async def stream_failed(self, conn: AsyncConnection, err: BaseException | None) -> None:
        """Bookkeeping after a stream broke: skip the endpoint, renew a stale token."""
        if isinstance(err, grpc.RpcError) and _retry.endpoint_failed(err):
            self.failed(conn)  # (a new token comes with the next stream anyway)

    def server_stream(self, method: Method, request: Any, endpoint: str | None = None) -> Any:
        self.check_open()
        conn = self.pick() if endpoint is None else self.connection_for(endpoint)
        return conn.unary_stream(method)(request, metadata=self.metadata)

    async def open_server_stream(
        self, method: Method, request: Any, timeout: float | None
    ) -> tuple[AsyncConnection, Any]:
        """A server-streaming call on the next endpoint, ending after ``timeout``."""
        self.check_open()
        if self._token is None and self._needs_token():
            await self.authenticate()
        conn = self.pick()
        return conn, conn.unary_stream(method)(request, timeout=timeout, metadata=self.metadata)

    # ---- auth ----

    async def authenticate(self, stale: int | None = None) -> None:
        """Fetch a token (again, when the one of generation ``stale`` was refused)."""
        async with self._auth_lock:
            if self._token is not None and stale != self._token_generation:
                return  # someone else renewed it meanwhile
            request = rpc_pb2.AuthenticateRequest(
                name=self.config.username or "", password=self.config.password or ""
            )
            self._token = None
            self.metadata = self._base_metadata
            try:
                response = await self.call(AUTHENTICATE, request)
            except AuthNotEnabledError:
                self._auth_off = True  # call on without a token
                return
            self._token = response.token
            self._token_generation += 1
            self.metadata = (*self._base_metadata, ("token", response.token))

    async def close(self) -> None:
        self.closed = True
        if self._loop is not None and running_loop() is not self._loop:
            return  # the channels belong to a loop that is gone: nothing to await there
        for conn in self.connections:
            await conn.close()


class _DeadlinePassed(Exception):
    """The call's deadline passed between attempts."""


class _Failure:
    """Where a call stands while it is being retried."""

    __slots__ = ("auth_retries", "conn", "error", "token", "tried")

    def __init__(self, conn: AsyncConnection, error: grpc.RpcError, token: int) -> None:
        self.conn = conn
        self.error = error
        self.token = token  # the auth token generation the call was made with
        self.auth_retries = 0
        self.tried: dict[str, None] = {conn.endpoint.display: None}  # in order, once each
