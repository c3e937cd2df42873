"""Serving a servicer object as a gRPC service, from the proto descriptors.

The handlers need no generated stub code. Requests are parsed here rather than by
gRPC, to answer unparseable ones with the status etcd (Go's gRPC) gives them:
INTERNAL, not UNKNOWN.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc import StatusCode

from etcd3py import _etcd_errors as E
from etcd3py._etcd_errors import ErrorSpec

from ..server.metrics import GrpcMethod, ServerMetrics
from ..server.server import EtcdServer


def _parse_or_abort(prefix: str) -> Callable[[type[Message], bytes, Any], Awaitable[Message]]:
    async def parse(request_type: type[Message], raw: bytes, context: Any) -> Message:
        try:
            return request_type.FromString(raw)
        except DecodeError as err:
            await context.abort(StatusCode.INTERNAL, f"{prefix}{err}")
            raise  # abort() raises; this keeps type checkers informed

    return parse


# The texts Go's gRPC (and so etcd) gives a request it cannot parse.
_parse_unary = _parse_or_abort("grpc: error unmarshalling request: ")
_parse_streamed = _parse_or_abort("grpc: failed to unmarshal the received message ")


# streams the member ended, by their task, and the error their callers are told
_ended: weakref.WeakKeyDictionary[asyncio.Task[Any], ErrorSpec] = weakref.WeakKeyDictionary()


# tasks of generator handlers (their writes happen in gRPC's frames, between items),
# and those of them running inside the handler's own code right now
_generators: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
_inside: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


def end_stream(task: asyncio.Task[Any], spec: ErrorSpec) -> None:
    """End a streaming call (run by ``task``) with ``spec``, as etcd cancels a stream's
    context with an error (its callers see that error, not a cancellation).

    A handler that is a coroutine is cancelled at once: the cancellation surfaces in its
    own frames, where ``_abort_if_ended`` turns it into ``spec``. A generator handler is
    cancelled only while inside its own code; while gRPC writes its last item, the end
    waits until gRPC asks for the next one (a cancellation landing in gRPC's write would
    cut the stream without a status)."""
    _ended[task] = spec
    if task not in _generators or task in _inside:
        task.cancel()


def ended_by_member(task: asyncio.Task[Any] | None) -> bool:
    """Whether ``task``'s cancellation is the member ending its call (not its caller)."""
    return task is not None and task in _ended


@contextlib.contextmanager
def ended_by_reset(server: EtcdServer) -> Iterator[None]:
    """While inside, a ``reset()`` of ``server`` ends the current call with etcd's
    "etcdserver: server stopped" (UNAVAILABLE): a call waiting on the discarded state
    must not go on as if the state were the same."""
    task = asyncio.current_task()
    assert task is not None

    def end() -> None:
        end_stream(task, E.STOPPED)

    server.add_reset_listener(end)
    try:
        yield
    finally:
        server.remove_reset_listener(end)


async def _abort_if_ended(context: Any) -> None:
    """In a cancelled call: if the member ended it (``end_stream``), end it with its
    error instead (the caller raises the cancellation again otherwise)."""
    task = asyncio.current_task()
    spec = _ended.pop(task, None) if task is not None else None
    if spec is not None:
        task.uncancel()  # type: ignore[union-attr]
        await context.abort(spec.code, spec.message)


Admit = Callable[[str, "Message | None", Any], Awaitable[None]]
"""Checks a call before it is served (method name, its request or None for a stream,
the context); aborts the ones the member refuses (etcd's interceptors)."""


# Go's names of the status codes, as go-grpc-prometheus labels them
GO_CODE_NAMES = {
    code: "Canceled"
    if code is StatusCode.CANCELLED
    else "".join(part.capitalize() for part in code.name.split("_"))
    for code in StatusCode
}
GO_CODE_NAMES[StatusCode.OK] = "OK"


def _outcome(context: Any, err: BaseException | None) -> str:
    """The status a call ended with, by Go's name."""
    if isinstance(err, asyncio.CancelledError):
        return "Canceled"
    code = context.code()
    if code is None or isinstance(code, int):  # not set: the handler's return or raise
        code = StatusCode.OK if err is None else StatusCode.UNKNOWN
    return GO_CODE_NAMES.get(code, "Unknown")


def _parsing(
    fn: Callable[..., Any],
    request_type: type[Message],
    streamed: bool,
    admit: Admit | None,
    counted: tuple[ServerMetrics, GrpcMethod],
) -> Any:
    """Wrap a servicer method so that it takes raw request bytes, keeping its kind, and
    counts its calls and outcomes in ``counted``."""
    name = fn.__name__
    metrics, method = counted
    started, handled = metrics.grpc_started, metrics.grpc_handled

    async def requests(raw: AsyncIterator[bytes], context: Any) -> AsyncIterator[Message]:
        async for item in raw:
            yield await _parse_streamed(request_type, item, context)

    async def argument(raw: Any, context: Any) -> Any:
        if streamed:
            if admit is not None:
                await admit(name, None, context)
            return requests(raw, context)
        request = await _parse_unary(request_type, raw, context)
        if admit is not None:
            await admit(name, request, context)
        return request

    if inspect.isasyncgenfunction(fn):

        async def generator(raw: Any, context: Any) -> AsyncIterator[Message]:
            task = asyncio.current_task()
            assert task is not None
            _generators.add(task)
            started[method] += 1
            failure: BaseException | None = None
            try:
                responses = fn(await argument(raw, context), context).__aiter__()
                while True:
                    _inside.add(task)
                    try:
                        if task in _ended:  # ended while gRPC wrote the last item
                            raise asyncio.CancelledError
                        response = await responses.__anext__()
                    except StopAsyncIteration:
                        return
                    finally:
                        _inside.discard(task)
                    yield response
            except asyncio.CancelledError as err:
                failure = err
                await _abort_if_ended(context)
                raise
            except BaseException as err:
                failure = err
                raise
            finally:
                outcome = (*method, _outcome(context, failure))
                handled[outcome] += 1

        return generator

    async def coroutine(raw: Any, context: Any) -> Any:
        started[method] += 1
        failure: BaseException | None = None
        try:
            return await fn(await argument(raw, context), context)
        except asyncio.CancelledError as err:
            failure = err
            await _abort_if_ended(context)
            raise
        except BaseException as err:
            failure = err
            raise
        finally:
            outcome = (*method, _outcome(context, failure))
            handled[outcome] += 1

    return coroutine


def _kind(method: Any) -> str:
    if method.client_streaming:
        return "bidi_stream" if method.server_streaming else "client_stream"
    return "server_stream" if method.server_streaming else "unary"


def register(
    server: grpc.aio.Server,
    module: ModuleType,
    service: str,
    impl: object,
    metrics: ServerMetrics,
    admit: Admit | None = None,
) -> None:
    """Serve every method of ``service`` that ``impl`` implements (others: UNIMPLEMENTED),
    each call first ``admit``-ted when given and counted in ``metrics``."""
    descriptor = module.DESCRIPTOR.services_by_name[service]
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in descriptor.methods:
        counted = (metrics, (descriptor.full_name, method.name, _kind(method)))
        metrics.grpc_methods.add(counted[1])  # every method is listed, served or not
        fn = getattr(impl, method.name, None)
        if fn is None:
            continue
        request = getattr(module, method.input_type.name)
        response = getattr(module, method.output_type.name)
        if method.client_streaming:
            make = (
                grpc.stream_stream_rpc_method_handler
                if method.server_streaming
                else grpc.stream_unary_rpc_method_handler
            )
            behaviour = _parsing(fn, request, streamed=True, admit=admit, counted=counted)
        else:
            make = (
                grpc.unary_stream_rpc_method_handler
                if method.server_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            behaviour = _parsing(fn, request, streamed=False, admit=admit, counted=counted)
        handlers[method.name] = make(behaviour, response_serializer=response.SerializeToString)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(descriptor.full_name, handlers),)
    )
