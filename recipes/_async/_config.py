"""ConfigWatcher: a live, read-only mapping of the keys under a prefix.

It loads the prefix consistently at one revision R, then applies the watch from
R+1, so it never misses or reorders a change; ``revision`` says which revision the
mapping reflects. When the watch cannot resume (its history was compacted) it loads
the whole prefix again and tells the callbacks so (``reloaded``). If it cannot go
on at all (a permission refused, the client closed), reading it raises the error
instead of serving a stale mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from etcd3py import (
    ArgumentError,
    ArgumentTypeError,
    AsyncClient,
    AsyncWatch,
    CompactedError,
    DeadlineExceededError,
    EventType,
    UnavailableError,
    _check,
)
from etcd3py._async._primitives import AsyncFlag, AsyncTask, sleep, spawn

from .._data import ConfigChange
from ._util import WaitTimedOut, as_bytes, deadline_after, remaining

log = logging.getLogger("etcd3py.recipes")


class AsyncConfigWatcher(Mapping[str, bytes]):
    """``async with AsyncConfigWatcher(client, "config/app/") as config: config["db_url"]``

    Keys are relative to the prefix, decoded as UTF-8; values are bytes.
    """

    def __init__(self, client: AsyncClient, prefix: str | bytes) -> None:
        if not isinstance(client, AsyncClient):
            raise ArgumentTypeError("client", client, "an AsyncClient")
        self._client = client
        self._prefix = as_bytes(prefix, "prefix")
        if not self._prefix:
            raise ArgumentError("prefix", prefix, "a non-empty prefix")
        self._data: dict[str, bytes] = {}
        self.revision = 0
        self._callbacks: list[Callable[[ConfigChange], Any]] = []
        self._advanced = AsyncFlag()
        self._error: BaseException | None = None
        self._watch: AsyncWatch | None = None
        self._task: AsyncTask | None = None
        self._closed = False

    # ---- the mapping ----

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._task is None:
            raise RuntimeError("the config watcher has not started (use start() or with)")

    def __getitem__(self, key: str) -> bytes:
        self._check()
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self._check()
        return iter(list(self._data))

    def __len__(self) -> int:
        self._check()
        return len(self._data)

    def __repr__(self) -> str:
        return f"<ConfigWatcher {self._prefix!r} @{self.revision}: {len(self._data)} keys>"

    # ---- following changes ----

    def on_change(self, callback: Callable[[ConfigChange], Any]) -> None:
        """Call ``callback(change)`` after every change is applied (from the background)."""
        if not callable(callback):
            raise ArgumentTypeError("callback", callback, "a callable")
        self._callbacks.append(callback)

    async def wait_for(self, revision: int, timeout: float | None = None) -> bool:
        """Wait until the mapping reflects ``revision`` (True) or ``timeout`` passes (False)."""
        revision = _check.revision(revision)
        deadline = deadline_after(timeout)
        while self.revision < revision:
            self._check()
            self._advanced.clear()
            if self.revision >= revision:
                break
            try:
                left = remaining(deadline)
            except WaitTimedOut:
                return False
            await self._advanced.wait(left)
        self._check()
        return True

    async def start(self) -> AsyncConfigWatcher:
        """Load the prefix and follow it; return self (``async with`` does this)."""
        if self._task is None:
            await self._load(reloaded=False)
            self._task = spawn(self._follow, name="etcd3py-config")
        return self

    async def _load(self, reloaded: bool) -> None:
        response = await self._client.get(self._prefix, prefix=True)
        data = {self._relative(kv.key): kv.value for kv in response.kvs}
        watch = self._client.watch(
            self._prefix, prefix=True, start_revision=response.header.revision + 1
        )
        self._watch = await watch.start()
        old, self._data = self._data, data
        self.revision = response.header.revision
        if reloaded:
            gone = frozenset(set(old) - set(data))
            changed = {k: v for k, v in data.items() if old.get(k) != v}
            self._notify(ConfigChange(self.revision, changed, gone, reloaded=True))

    def _relative(self, key: bytes) -> str:
        return key[len(self._prefix) :].decode(errors="replace")

    async def _follow(self) -> None:
        while not self._closed:
            watch = self._watch
            assert watch is not None
            try:
                response = await watch.get()
            except CompactedError:
                log.warning("config %r: history compacted, reading it again", self._prefix)
                await self._reload_after_compaction()
                continue
            except Exception as err:
                if not self._closed:
                    self._fail(err)
                return
            if response is not None:  # (None only when a timeout is given)
                self._apply(response)

    async def _reload_after_compaction(self) -> None:
        """Read the prefix again; while etcd cannot be reached, keep trying."""
        pause = 0.05
        while not self._closed:
            try:
                await self._load(reloaded=True)
                return
            except (UnavailableError, DeadlineExceededError) as err:
                log.debug("config %r: reload failed, trying again: %s", self._prefix, err)
            except Exception as err:
                self._fail(err)
                return
            await sleep(pause)
            pause = min(pause * 2, 2.0)

    def _apply(self, response: Any) -> None:
        changed: dict[str, bytes] = {}
        deleted: set[str] = set()
        for event in response.events:
            key = self._relative(event.key)
            if event.type == EventType.PUT:
                self._data[key] = event.value
                changed[key] = event.value
                deleted.discard(key)
            else:
                self._data.pop(key, None)
                deleted.add(key)
                changed.pop(key, None)
        self.revision = max(self.revision, response.header.revision)
        if response.events:
            self._notify(ConfigChange(self.revision, changed, frozenset(deleted)))
        else:
            self._advanced.set()  # a progress notice: the mapping is current to here

    def _notify(self, change: ConfigChange) -> None:
        self._advanced.set()
        for callback in list(self._callbacks):
            try:
                callback(change)
            except Exception:
                log.exception("config callback %r failed", callback)

    def _fail(self, error: BaseException) -> None:
        log.error("config %r no longer follows etcd: %s", self._prefix, error)
        self._error = error
        self._advanced.set()

    async def close(self) -> None:
        """Stop following etcd; the mapping keeps its last contents."""
        self._closed = True
        if self._watch is not None:
            self._watch.interrupt()
        if self._task is not None:
            self._task.cancel()
            await self._task.join(5)

    async def __aenter__(self) -> AsyncConfigWatcher:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
