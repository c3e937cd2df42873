"""Writes that can be repeated safely: the request shape and the reading of its answer
(pure, no I/O; ``_async/_once.py`` runs the loop).

A write made by ``put_once``/``txn_once`` carries a marker: a key of its own under
``ONCE_PREFIX``, on a short lease (shared by the client's markers), written in the same
transaction as the write and in whichever branch runs. The whole request is guarded
by "the marker does not exist yet":

    if create_revision(marker) == 0:
        if <the caller's compare>: <success> + put(marker, "s")
        else:                      <failure> + put(marker, "f")
    else:
        get(marker)

etcd applies a transaction atomically, so sending this request twice applies the
caller's write at most once: a repeat after an answer was lost finds the marker and
only reads it back, which says that the write was applied, which branch ran and at
which revision.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ._proto import rpc_pb2
from ._txn import Compare, CreateRevision, Get, Operation, Put, Txn
from ._types import TxnResponse

ONCE_PREFIX = b"__etcd3py/once/"  # reserved: markers of put_once/txn_once live here
_SUCCEEDED, _FAILED = b"s", b"f"
MARKER_TTL = 120  # seconds: the TTL of the lease markers share
MARKER_MARGIN = 30  # seconds a marker outlives the longest put_once/txn_once may take


@dataclass(frozen=True)
class OnceResult:
    """What a ``put_once``/``txn_once`` did: it was applied exactly once.

    ``succeeded`` says which branch ran (always True for ``put_once``); ``revision`` is the
    revision of the write. ``response`` is the transaction's answer for the caller's own
    operations, or None when that answer was lost and the outcome was read back from the
    marker (``recovered``). ``attempts`` counts the requests sent.
    """

    succeeded: bool
    revision: int
    response: TxnResponse | None
    attempts: int

    @property
    def recovered(self) -> bool:
        """True when the first answer was lost and a repeat found the write applied."""
        return self.response is None


def marker_key() -> bytes:
    """A fresh marker key, unique to one put_once/txn_once call."""
    return ONCE_PREFIX + uuid.uuid4().hex.encode()


def guarded(
    marker: bytes,
    lease_id: int,
    compare: list[Compare] | tuple[Compare, ...],
    success: list[Operation] | tuple[Operation, ...],
    failure: list[Operation] | tuple[Operation, ...],
) -> tuple[list[Compare], list[Operation], list[Operation]]:
    """(compare, success, failure) of the request that applies the write at most once."""
    inner = Txn(
        list(compare),
        [*success, Put(marker, _SUCCEEDED, lease=lease_id)],
        [*failure, Put(marker, _FAILED, lease=lease_id)],
    )
    return [CreateRevision(marker) == 0], [inner], [Get(marker)]


def result(answer: TxnResponse, attempts: int) -> OnceResult:
    """The outcome of the caller's write, from the answer to the guarded request."""
    first = answer.responses[0]
    if answer.succeeded:  # applied now: the caller's answer, without the marker's put
        assert isinstance(first, TxnResponse)
        inner = rpc_pb2.TxnResponse()
        inner.CopyFrom(first._pb)
        del inner.responses[-1]
        return OnceResult(inner.succeeded, answer.header.revision, TxnResponse(inner), attempts)
    marker = first.kvs[0]  # type: ignore[union-attr]  # applied before: read it back
    return OnceResult(marker.value == _SUCCEEDED, marker.mod_revision, None, attempts)
