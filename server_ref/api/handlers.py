"""Unary gRPC handlers: an etcd error leaves as its exact status, anything else as UNKNOWN.

A servicer method is a plain function when it answers at once and a coroutine when
it must wait (Lock, Campaign); ``unary`` wraps either. A plain method runs without
awaiting, so it is atomic on the event loop; it may return an awaitable answer (a
write waiting for its log entry to be durable), which is awaited after it returned.

Every handler serves its request as its caller: ``serve_as`` puts the caller's
credentials (etcd's ``token`` metadata, else a verified client certificate's CN) where
the server reads them (``auth/caller.py``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar, overload

import grpc
from google.protobuf.message import Message

from ..auth.caller import CALLER, Credentials
from ..errors import ServerError
from ..server.log import Answer

log = logging.getLogger("etcd3py.server_ref")

_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)
Handler = Callable[[Any, _Req, grpc.aio.ServicerContext[Any, Any]], Awaitable[_Resp]]


@overload
def unary(fn: Callable[[Any, _Req], Coroutine[Any, Any, _Resp]]) -> Handler[_Req, _Resp]: ...
@overload
def unary(fn: Callable[[Any, _Req], Answer[_Resp]]) -> Handler[_Req, _Resp]: ...
def unary(fn: Callable[[Any, _Req], Any]) -> Handler[_Req, Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def waiting(self: Any, request: _Req, context: Any) -> Any:
            serve_as(context)
            try:
                return await fn(self, request)
            except Exception as err:
                await _abort(context, err, fn.__name__)

        return waiting

    @functools.wraps(fn)
    async def answering(self: Any, request: _Req, context: Any) -> Any:
        serve_as(context)
        try:
            answer = fn(self, request)
            if not isinstance(answer, Message):
                answer = await answer
            return answer
        except Exception as err:
            await _abort(context, err, fn.__name__)

    return answering


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], err: Exception, name: str
) -> NoReturn:
    if isinstance(err, ServerError):
        await context.abort(err.spec.code, err.spec.message)
    else:
        log.error("unexpected error in %s", name, exc_info=err)
        await context.abort(grpc.StatusCode.UNKNOWN, "etcd3py server_ref: internal error")
    raise AssertionError("unreachable: abort() raises")


# etcd's TokenFieldNameGRPC, and TokenFieldNameSwagger (the gateway's header) after it
_TOKEN_KEYS = ("token", "authorization")


def credentials(context: grpc.aio.ServicerContext[Any, Any]) -> Credentials:
    """The caller's credentials, as etcd's AuthInfoFromCtx and AuthInfoFromTLS find them."""
    metadata = context.invocation_metadata() or ()
    for wanted in _TOKEN_KEYS:
        for key, value in metadata:
            if key == wanted:
                return Credentials(token=value if isinstance(value, str) else value.decode())

    def common_name() -> str | None:
        names = list(context.auth_context().get("x509_common_name", ()))
        return names[0].decode() if names else None

    return Credentials(common_name=common_name)


def serve_as(context: grpc.aio.ServicerContext[Any, Any]) -> None:
    """Serve the rest of this handler's task (and the tasks it starts) as its caller."""
    CALLER.set(credentials(context))
