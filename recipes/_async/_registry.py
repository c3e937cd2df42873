"""Service discovery: instances register under a TTL lease; clients list and watch them.

An instance is the key ``<prefix>/<service>/<id>`` holding the JSON of etcd's Go
``naming/endpoints`` package, ``{"Op":0,"Addr":"10.0.0.5:8080","Metadata":...}``, so
Go gRPC clients using etcd's resolver (target ``etcd:///<prefix>/<service>``) find
Python services, and the other way round. The key lives on a lease kept alive by
the registering process: if that process dies, the instance disappears within the
TTL. If the lease is lost while the process lives (etcd unreachable for longer
than the TTL), the registration says so and, by default, registers again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from etcd3py import (
    ArgumentError,
    ArgumentTypeError,
    AsyncClient,
    AsyncLease,
    EtcdError,
    WatchClosedError,
    _check,
)
from etcd3py._async._primitives import AsyncTask, sleep, spawn
from etcd3py._retry import Backoff

from .._data import Instance, decode, encode
from ._cache import AsyncCache, AsyncCacheChanges
from ._util import WaitTimedOut, as_bytes, deadline_after, remaining, within

log = logging.getLogger("etcd3py.recipes")

DEFAULT_TTL = 10


class AsyncServiceRegistry:
    """``AsyncServiceRegistry(client, prefix="services")``"""

    def __init__(self, client: AsyncClient, prefix: str = "services") -> None:
        if not isinstance(client, AsyncClient):
            raise ArgumentTypeError("client", client, "an AsyncClient")
        self.client = client
        self.prefix = _check.text(prefix, "prefix").rstrip("/")

    def _service_prefix(self, service: str) -> bytes:
        if "/" in _check.text(service, "service"):
            raise ArgumentError("service", service, "a service name without '/'")
        return as_bytes(f"{self.prefix}/{service}/")

    def register(
        self,
        service: str,
        address: str,
        *,
        metadata: Any = None,
        ttl: int = DEFAULT_TTL,
        instance_id: str | None = None,
        keep_registered: bool = True,
    ) -> AsyncRegistration:
        """An instance to register: ``async with registry.register(...) as instance``.

        ``instance_id`` defaults to the address. With ``keep_registered``, a
        registration whose lease was lost is made again as soon as etcd answers.
        """
        prefix = self._service_prefix(service)
        _check.text(address, "address")
        if instance_id is not None and "/" in _check.text(instance_id, "instance_id"):
            raise ArgumentError("instance_id", instance_id, "an id without '/'")
        try:
            encode(address, metadata)
        except (TypeError, ValueError):
            raise ArgumentTypeError("metadata", metadata, "a value JSON can encode") from None
        key = prefix + as_bytes(instance_id or address)
        instance = Instance(service, instance_id or address, address, metadata)
        return AsyncRegistration(self.client, key, instance, _check.ttl(ttl), keep_registered)

    async def instances(self, service: str) -> list[Instance]:
        """The instances registered now, by id."""
        prefix = self._service_prefix(service)
        response = await self.client.get(prefix, prefix=True)
        return _parse(service, prefix, {kv.key: kv.value for kv in response.kvs})

    def watch(self, service: str) -> AsyncServiceWatch:
        """Iterate for the list of instances: now, then after every change."""
        return AsyncServiceWatch(self.client, service, self._service_prefix(service))


def _parse(service: str, prefix: bytes, entries: dict[bytes, bytes]) -> list[Instance]:
    found = []
    for key in sorted(entries):
        instance = decode(service, key[len(prefix) :].decode(errors="replace"), entries[key])
        if instance is not None:
            found.append(instance)
    return found


class AsyncRegistration:
    """A registered instance, kept alive until ``stop()`` (or the end of ``async with``)."""

    def __init__(
        self,
        client: AsyncClient,
        key: bytes,
        instance: Instance,
        ttl: int,
        keep_registered: bool,
    ) -> None:
        self.client = client
        self.key = key
        self.instance = instance
        self.ttl = ttl
        self._keep = keep_registered
        self._lease: AsyncLease | None = None
        self._stopped = False
        self._retry: AsyncTask | None = None
        self._callbacks: list[Callable[[AsyncRegistration], Any]] = []

    @property
    def registered(self) -> bool:
        """True while the instance's key is kept alive: started, not stopped, lease not lost."""
        return self._lease is not None and not self._lease.lost and not self._stopped

    def on_lost(self, callback: Callable[[AsyncRegistration], Any]) -> None:
        """Call ``callback(registration)`` when the instance's lease is lost."""
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        self._callbacks.append(callback)

    async def start(self) -> Instance:
        """Write the instance's key on a lease of its own and keep that lease alive; return the
        instance.
        """
        lease = await self.client.grant(self.ttl)
        lease.on_lost(self._on_lost)
        self._lease = lease  # registered from the moment the key can be seen
        try:
            value = encode(self.instance.address, self.instance.metadata)
            await self.client.put(self.key, value, lease=lease)
        except BaseException:
            self._lease = None
            await lease.revoke()
            raise
        self.client.keep_alive(lease)
        return self.instance

    def _on_lost(self, lease: AsyncLease) -> None:
        if self._stopped:
            return
        log.warning("registration of %r lost: %s", self.key, lease.lost_reason)
        for callback in list(self._callbacks):
            try:
                callback(self)
            except Exception:
                log.exception("registration-lost callback %r failed", callback)
        if self._keep:
            self._retry = spawn(self._register_again, name="etcd3py-reregister")

    async def _register_again(self) -> None:
        backoff = Backoff(most=max(1.0, self.ttl / 3))
        while not self._stopped:
            try:
                await self.start()
                log.info("registration of %r restored", self.key)
                return
            except EtcdError as err:
                log.debug("registering %r again failed: %s", self.key, err)
            await sleep(backoff.pause())

    async def stop(self) -> None:
        """Deregister at once (the lease is revoked, so the key goes with it)."""
        self._stopped = True
        if self._retry is not None:
            self._retry.cancel()
        lease = self._lease
        if lease is not None and not lease.lost:
            await lease.revoke()

    async def __aenter__(self) -> Instance:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class AsyncServiceWatch:
    """The instances of a service: first as they are, then after every change.

    A view over an AsyncCache of the service's prefix (the project's one
    list-then-watch): no change falls between the first list and the watch, and
    after a relist (a compaction, a server behind what was seen) the list it
    yields is complete.
    """

    def __init__(self, client: AsyncClient, service: str, prefix: bytes) -> None:
        self._service = service
        self._prefix = prefix
        self._cache = AsyncCache(client, prefix)
        self._changes: AsyncCacheChanges | None = None
        self._entries: dict[bytes, bytes] = {}
        self._closed = False

    def __aiter__(self) -> AsyncServiceWatch:
        return self

    async def __anext__(self) -> list[Instance]:
        found = await self._next(None)
        if found is None:
            raise StopAsyncIteration
        return found

    async def get(self, timeout: float | None = None) -> list[Instance] | None:
        """The next list of instances; None when ``timeout`` seconds pass first
        ("nothing yet"). Raises WatchClosedError once cancelled."""
        deadline = deadline_after(timeout)
        found = await within(deadline, lambda: self._next(deadline))
        if found is None and self._closed:  # (not a wait that ran out)
            raise WatchClosedError(f"watching service {self._service!r}: cancelled")
        return found

    async def _next(self, deadline: float | None) -> list[Instance] | None:
        """The next list; None once cancelled; WaitTimedOut at the deadline."""
        if self._closed:
            return None
        if self._changes is None or self._changes.fell_behind:
            # the first list, or a whole one again for a consumer that fell far behind
            await self._cache.start(remaining(deadline))
            self._changes = changes = self._cache.changes()
            self._entries = {key: entry.value for key, entry in changes.snapshot.items()}
            return _parse(self._service, self._prefix, self._entries)
        try:
            change = await self._changes.get(remaining(deadline))
        except WatchClosedError:
            if self._closed:
                return None
            if self._changes.fell_behind:
                return await self._next(deadline)
            raise
        if change is None:
            raise WaitTimedOut
        for key, entry in change.changed.items():
            self._entries[key] = entry.value
        for key in change.deleted:
            self._entries.pop(key, None)
        return _parse(self._service, self._prefix, self._entries)

    async def cancel(self) -> None:
        """Stop following the service: ``get`` returns None from now on, a waiting one too."""
        self._closed = True
        await self._cache.close()

    async def __aenter__(self) -> AsyncServiceWatch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.cancel()
