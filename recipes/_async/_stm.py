"""STM: software transactional memory on etcd, as etcd's concurrency package defines it.

``run(fn)`` calls ``fn`` with a fresh transaction. ``fn`` reads through it (each
read is remembered with the key's mod revision: the read set) and writes through
it (buffered: the write set). At the end one etcd txn applies the writes if the
comparisons of the isolation level hold; if not, someone changed what ``fn`` saw
and ``fn`` runs again, on fresh data, until it commits or the attempts run out.

Isolation levels (etcd's):

- SERIALIZABLE_SNAPSHOT (default): every read is taken at the revision of the first
  read (one snapshot); the commit requires every key read to be unchanged and every
  key written to be unmodified since that revision (no blind-write conflicts).
- SERIALIZABLE: the same snapshot reads; the commit checks the keys read only.
- REPEATABLE_READS: each key is read at the latest revision once, then repeated
  from memory; the commit checks the keys read.
- READ_COMMITTED: reads as above, nothing checked: the writes always apply.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Protocol, TypeVar

from etcd3py import (
    ArgumentTypeError,
    AsyncClient,
    AsyncLease,
    CompactedError,
    Compare,
    Delete,
    FutureRevisionError,
    Get,
    GetResponse,
    ModRevision,
    Put,
    TxnResponse,
    _check,
)
from etcd3py._keys import to_key
from etcd3py._requests import lease_id
from etcd3py.errors import STMConflictError

from .._data import Isolation
from ._util import as_bytes, deadline_after

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

DEFAULT_MAX_ATTEMPTS = 100


_SNAPSHOT_LEVELS = (Isolation.SERIALIZABLE_SNAPSHOT, Isolation.SERIALIZABLE)


class _Read(NamedTuple):
    value: bytes | None  # None: the key does not exist
    mod_revision: int  # 0 when it does not exist (what etcd compares against)


class _Restart(Exception):
    """The snapshot can no longer be read (compacted, or not there yet): start over."""


class AsyncSTMTxn:
    """One attempt of ``fn``: ``await stm.get(k)``, ``stm.put(k, v)``, ``stm.delete(k)``.

    ``attempt`` counts from 1. After ``run`` returns, ``response`` is the committed
    etcd txn's response (its ``header.revision`` is the commit's revision).
    """

    def __init__(
        self,
        client: AsyncClient,
        isolation: Isolation,
        attempt: int,
        prefetched: dict[bytes, _Read],
        prefetch_revision: int,
    ) -> None:
        self._client = client
        self.isolation = isolation
        self.attempt = attempt
        self.response: TxnResponse | None = None
        self._reads: dict[bytes, _Read] = {}
        self._writes: dict[bytes, tuple[bytes | None, Put | Delete]] = {}
        self._snapshot = 0  # the revision of the snapshot levels' reads, once fixed
        self._prefetched = prefetched  # what the last failed commit read back
        self._prefetch_revision = prefetch_revision
        self._doomed = False  # a read failed: never commit this attempt

    def __repr__(self) -> str:
        return f"<STMTxn {self.isolation.value} attempt={self.attempt}>"

    async def get(self, key: str | bytes) -> bytes | None:
        """The key's value as this transaction sees it (its own writes included); None if absent."""
        data = to_key(key)
        if data in self._writes:
            return self._writes[data][0]
        return (await self._read(data)).value

    async def rev(self, key: str | bytes) -> int:
        """The key's mod revision in etcd as this transaction read it (0 if absent)."""
        return (await self._read(to_key(key))).mod_revision

    def put(
        self, key: str | bytes, value: str | bytes, *, lease: int | AsyncLease | None = None
    ) -> None:
        """Write ``value`` at commit (later reads in this attempt see it)."""
        data, payload = to_key(key), as_bytes(value)
        lease_id(lease)  # refused here, not at commit
        self._writes[data] = (payload, Put(data, payload, lease=lease))

    def delete(self, key: str | bytes) -> None:
        """Delete the key at commit (later reads in this attempt see None)."""
        data = to_key(key)
        self._writes[data] = (None, Delete(data))

    async def _read(self, key: bytes) -> _Read:
        found = self._reads.get(key)
        if found is None:
            if self.isolation in _SNAPSHOT_LEVELS and not self._snapshot:
                self._snapshot = self._prefetch_revision  # 0 unless a commit failed before
            if key in self._prefetched:
                found = self._prefetched.pop(key)
            else:
                found = _as_read(await self._fetch(key))
            self._reads[key] = found
        return found

    async def _fetch(self, key: bytes) -> GetResponse:
        if self.isolation not in _SNAPSHOT_LEVELS:
            return await self._client.get(key, serializable=True)  # any committed revision
        if not self._snapshot:
            first = await self._client.get(key)  # the first read fixes the snapshot
            self._snapshot = first.header.revision
            return first
        try:
            return await self._client.get(key, revision=self._snapshot, serializable=True)
        except (CompactedError, FutureRevisionError) as error:
            self._doomed = True
            raise _Restart(str(error)) from error

    async def _commit(self) -> bool:
        """Apply the writes if the level's comparisons hold; on failure, read back the read set."""
        if self._doomed:  # fn swallowed the failure of a read
            self._prefetched, self._prefetch_revision = {}, 0
            return False
        compare: list[Compare] = []
        if self.isolation is not Isolation.READ_COMMITTED:
            compare = [ModRevision(k) == read.mod_revision for k, read in self._reads.items()]
        if self.isolation is Isolation.SERIALIZABLE_SNAPSHOT and self._snapshot:
            compare += [ModRevision(k) < self._snapshot + 1 for k in self._writes]
        keys = list(self._reads) if self.isolation in _SNAPSHOT_LEVELS else []
        response = await self._client.txn(
            compare=compare,
            success=[op for _, op in self._writes.values()],
            failure=[Get(k) for k in keys],  # the next attempt starts from these
        )
        if response.succeeded:
            self.response = response
            return True
        fresh = [_as_read(r) for r in response.responses if isinstance(r, GetResponse)]
        self._prefetched = dict(zip(keys, fresh, strict=True))
        self._prefetch_revision = response.header.revision if keys else 0
        return False


def _as_read(response: GetResponse) -> _Read:
    if not response.kvs:
        return _Read(None, 0)
    kv = response.kvs[0]
    return _Read(kv.value, kv.mod_revision)


class AsyncSTMFunction(Protocol[T_co]):
    """What ``run`` takes: ``async def fn(stm: AsyncSTMTxn) -> T``."""

    async def __call__(self, stm: AsyncSTMTxn, /) -> T_co: ...


class AsyncSTM:
    """``await AsyncSTM(client).run(fn)``: run ``fn`` as one serializable transaction.

    ``fn`` may run several times: keep its effects inside the transaction. It returns
    what ``run`` returns; an exception from it aborts the transaction (nothing is
    written) and propagates. ``run`` raises STMConflictError after ``max_attempts``
    attempts, or once ``timeout`` seconds passed, without a commit.
    """

    def __init__(
        self,
        client: AsyncClient,
        isolation: Isolation | str = Isolation.SERIALIZABLE_SNAPSHOT,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float | None = None,
    ) -> None:
        if not isinstance(client, AsyncClient):
            raise ArgumentTypeError("client", client, "an AsyncClient")
        self._client = client
        self.isolation = Isolation(_check.choice(isolation, "isolation", _ISOLATIONS))
        self.max_attempts = _check.integer(max_attempts, "max_attempts", 1)
        self.timeout = _check.wait_timeout(timeout)

    def __repr__(self) -> str:
        return f"<STM {self.isolation.value}>"

    async def run(self, fn: AsyncSTMFunction[T]) -> T:
        """``fn``'s result, once its transaction committed."""
        if not callable(fn):
            raise ArgumentTypeError("fn", fn, "a function of one AsyncSTMTxn")
        deadline = deadline_after(self.timeout)
        prefetched: dict[bytes, _Read] = {}
        prefetch_revision = 0
        for attempt in range(1, self.max_attempts + 1):
            stm = AsyncSTMTxn(self._client, self.isolation, attempt, prefetched, prefetch_revision)
            try:
                result = await fn(stm)
            except _Restart:
                prefetched, prefetch_revision = {}, 0  # the snapshot is gone: start afresh
            else:
                if await stm._commit():
                    return result
                prefetched, prefetch_revision = stm._prefetched, stm._prefetch_revision
            if deadline is not None and time.monotonic() >= deadline:
                raise STMConflictError(attempt, f"the timeout of {self.timeout}s passed")
        raise STMConflictError(self.max_attempts, "every attempt met a conflicting write")


_ISOLATIONS = frozenset(i.value for i in Isolation)
