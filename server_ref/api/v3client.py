"""The member as a client of itself, for the Lock and Election services (etcd's v3client).

It calls KV through the same checks and the same write and read paths as the KV
service, grants leases through the server's write path, and learns of changes from
the store's commit notifications, as watches do. It imports no servicer.

An etcd error comes back with its text and loses its status code, as it does when
etcd's lock and election servers hand it on to their caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from grpc import StatusCode

from etcd3py._etcd_errors import ErrorSpec
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..mvcc import watchable
from ..mvcc.store import Version
from ..server.log import settled
from ..server.server import EtcdServer
from .checks import CheckedKV
from .registry import ended_by_member, ended_by_reset

_R = rpc_pb2.RangeRequest


@contextlib.contextmanager
def _as_go_error() -> Iterator[None]:
    try:
        yield
    except ServerError as err:
        raise ServerError(ErrorSpec(StatusCode.UNKNOWN, err.spec.message)) from None


class InProcessClient:
    def __init__(self, server: EtcdServer, serving: Callable[[], bool]) -> None:
        self._server = server
        self._kv = CheckedKV(server)
        self._serving = serving
        self.header = server.header

    async def range(self, key: bytes, **kw: Any) -> rpc_pb2.RangeResponse:
        with _as_go_error():
            return await settled(self._kv.range(_R(key=key, **kw)))

    async def delete(self, key: bytes) -> rpc_pb2.DeleteRangeResponse:
        with _as_go_error():
            return await settled(self._kv.delete_range(rpc_pb2.DeleteRangeRequest(key=key)))

    async def txn(self, **kw: Any) -> rpc_pb2.TxnResponse:
        with _as_go_error():
            return await settled(self._kv.txn(rpc_pb2.TxnRequest(**kw)))

    async def grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; its id."""
        with _as_go_error():
            answer = self._server.lease_grant(rpc_pb2.LeaseGrantRequest(TTL=ttl))
            return (await settled(answer)).ID

    def caller_gave_up(self) -> bool:
        """Whether a cancelled wait was given up by its caller (deadline, cancel) rather
        than cut by the member (stopping, which acts as a crash, or reset): nothing is
        cleaned up."""
        return self._serving() and not ended_by_member(asyncio.current_task())

    @contextlib.contextmanager
    def changes(self) -> Iterator[asyncio.Event]:
        """An event set after every commit to the store (clear it before waiting). A
        reset of the server meanwhile ends the call (the store waited on is gone)."""
        store = self._server.store
        event = asyncio.Event()
        store.add_listener(event.set)
        try:
            with ended_by_reset(self._server):
                yield event
        finally:
            store.remove_listener(event.set)

    async def next_event(
        self, changed: asyncio.Event, key: bytes, range_end: bytes, start: int, puts: bool
    ) -> Version | None:
        """The first event (or PUT, with ``puts``) of the range at revision >= ``start``,
        as a watch from ``start`` delivers it; None when history was compacted past
        ``start`` (the watch would be cancelled)."""
        store = self._server.store
        watcher = watchable.Watcher(key, range_end, start, no_delete=puts)
        while not watchable.compacted(store, watcher):
            _, versions = watchable.take(store, watcher, store.rev)
            if versions:
                return versions[0]
            if watcher.next_rev > store.rev:
                changed.clear()
                await changed.wait()
        return None
