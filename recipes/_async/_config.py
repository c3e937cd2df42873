"""ConfigWatcher: a live, read-only mapping of the keys under a prefix.

A view over an AsyncCache of the prefix (the project's one list-then-watch): it
loads the prefix consistently at one revision R, then applies the watch from R+1,
so it never misses or reorders a change; ``revision`` says which revision the
mapping reflects. When the watch cannot resume (its history was compacted, or the
server's revision went backwards) it loads the whole prefix again and tells the
callbacks so (``reloaded``). If it cannot go on at all (a permission refused, the
client closed), reading it raises the error instead of serving a stale mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from etcd3py import ArgumentError, ArgumentTypeError, AsyncClient

from .._data import CacheChange, ConfigChange
from ._cache import AsyncCache
from ._util import as_bytes

log = logging.getLogger("etcd3py.recipes")


class AsyncConfigWatcher(Mapping[str, bytes]):
    """``async with AsyncConfigWatcher(client, "config/app/") as config: config["db_url"]``

    Keys are relative to the prefix, decoded as UTF-8; values are bytes.
    """

    def __init__(self, client: AsyncClient, prefix: str | bytes) -> None:
        if not isinstance(client, AsyncClient):
            raise ArgumentTypeError("client", client, "an AsyncClient")
        self._prefix = as_bytes(prefix, "prefix")
        if not self._prefix:
            raise ArgumentError("prefix", prefix, "a non-empty prefix")
        self._cache = AsyncCache(client, self._prefix)
        self._cache.on_change(self._notify)
        self._callbacks: list[Callable[[ConfigChange], Any]] = []

    @property
    def revision(self) -> int:
        """The revision the mapping reflects."""
        return self._cache.revision

    @property
    def stale(self) -> bool:
        """True while etcd could not be reached lately (the watcher keeps trying)."""
        return self._cache.stale

    # ---- the mapping ----

    def __getitem__(self, key: str) -> bytes:
        if not isinstance(key, str):
            raise KeyError(key)
        entry = self._cache.get(self._prefix + key.encode())
        if entry is None:
            raise KeyError(key)
        return entry.value

    def __iter__(self) -> Iterator[str]:
        return iter([self._relative(key) for key in self._cache.snapshot()])

    def __len__(self) -> int:
        return len(self._cache)

    def __repr__(self) -> str:
        return f"<ConfigWatcher {self._prefix!r} @{self.revision}>"

    def _relative(self, key: bytes) -> str:
        return key[len(self._prefix) :].decode(errors="replace")

    # ---- following changes ----

    def on_change(self, callback: Callable[[ConfigChange], Any]) -> None:
        """Call ``callback(change)`` after every change is applied (from the background)."""
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        self._callbacks.append(callback)

    def _notify(self, step: CacheChange) -> None:
        change = ConfigChange(
            step.revision,
            {self._relative(k): e.value for k, e in step.changed.items()},
            frozenset(self._relative(k) for k in step.deleted),
            reloaded=step.relisted is not None,
        )
        for callback in list(self._callbacks):
            try:
                callback(change)
            except Exception:
                log.exception("config callback %r failed", callback)

    async def wait_for(self, revision: int, timeout: float | None = None) -> bool:
        """Wait until the mapping reflects ``revision`` (True) or ``timeout`` passes (False)."""
        return await self._cache.wait_for(revision, timeout)

    async def start(self) -> AsyncConfigWatcher:
        """Load the prefix and follow it; return self (``async with`` does this)."""
        await self._cache.start()
        return self

    async def close(self) -> None:
        """Stop following etcd; the mapping keeps its last contents."""
        await self._cache.close()

    async def __aenter__(self) -> AsyncConfigWatcher:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
