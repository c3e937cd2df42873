"""Request builders shared by the sync and async clients (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Union, runtime_checkable

from ._errors import InvalidArgumentError, LeaseProvidedError, ValueProvidedError
from ._keys import KeyLike, key_range, to_bytes, to_key
from ._proto import rpc_pb2, v3election_pb2
from ._types import LeaderKey

_RR = rpc_pb2.RangeRequest

SORT_TARGETS = {
    "key": _RR.KEY,
    "version": _RR.VERSION,
    "create": _RR.CREATE,
    "mod": _RR.MOD,
    "value": _RR.VALUE,
}
SORT_ORDERS = {"none": _RR.NONE, "ascend": _RR.ASCEND, "descend": _RR.DESCEND}


@runtime_checkable
class LeaseLike(Protocol):
    """A lease object (``Lease``, ``AsyncLease``) usable where a lease id is."""

    @property
    def id(self) -> int: ...

    def check_alive(self) -> None:
        """Raise LeaseLostError when the lease is known to be lost."""


LeaseArg = Union[int, LeaseLike, None]  # noqa: UP007 - runtime alias for Python 3.10


def lease_id(lease: LeaseArg) -> int:
    if lease is None:
        return 0
    if isinstance(lease, bool) or not isinstance(lease, (int, LeaseLike)):
        raise TypeError(f"lease must be a lease id or a Lease, not {type(lease).__name__}")
    if isinstance(lease, int):
        return lease
    lease.check_alive()
    return lease.id


def required_lease(lease: LeaseArg) -> int:
    """The lease of a Lock or Campaign request, which must not be 0."""
    held_by = lease_id(lease)
    if held_by == 0:
        # etcd would grant a lease of its own per call, which nobody keeps alive
        raise InvalidArgumentError("a lease is required: the lock or candidacy lasts as long as it")
    return held_by


def leader_key(leader: LeaderKey) -> v3election_pb2.LeaderKey:
    if not isinstance(leader, LeaderKey):
        raise TypeError(
            f"leader must be a LeaderKey (campaign returns one), not {type(leader).__name__}"
        )
    return leader.to_proto()


def _enum(value: str | int | None, table: Mapping[str, Any], what: str) -> Any:
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return table[value.lower()]
        except KeyError:
            raise InvalidArgumentError(
                f"{what} must be one of {sorted(table)}, not {value!r}"
            ) from None
    if isinstance(value, int) and value in table.values():
        return int(value)
    raise InvalidArgumentError(f"{what} must be one of {sorted(table)}, not {value!r}")


def _revision(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise InvalidArgumentError(f"{what} must be >= 0, not {value}")
    return value


def range_request(
    key: KeyLike,
    *,
    prefix: bool = False,
    range_end: KeyLike | None = None,
    from_key: bool = False,
    revision: int = 0,
    limit: int = 0,
    sort_target: str | int | None = None,
    sort_order: str | int | None = None,
    serializable: bool = False,
    keys_only: bool = False,
    count_only: bool = False,
    min_mod_revision: int = 0,
    max_mod_revision: int = 0,
    min_create_revision: int = 0,
    max_create_revision: int = 0,
) -> rpc_pb2.RangeRequest:
    # Only what differs from the defaults is checked and set: a plain get of one key
    # stays close to the cost of building the message by hand.
    if prefix or from_key or range_end is not None:
        begin, end = key_range(key, prefix=prefix, range_end=range_end, from_key=from_key)
        request = _RR(key=begin, range_end=end)
    else:
        request = _RR(key=to_key(key))
    if revision:
        request.revision = _revision(revision, "revision")
    if limit:
        request.limit = _revision(limit, "limit")
    if sort_target is not None:
        request.sort_target = _enum(sort_target, SORT_TARGETS, "sort_target")
    if sort_order is not None:
        request.sort_order = _enum(sort_order, SORT_ORDERS, "sort_order")
    if serializable:
        request.serializable = True
    if keys_only:
        request.keys_only = True
    if count_only:
        request.count_only = True
    if min_mod_revision:
        request.min_mod_revision = _revision(min_mod_revision, "min_mod_revision")
    if max_mod_revision:
        request.max_mod_revision = _revision(max_mod_revision, "max_mod_revision")
    if min_create_revision:
        request.min_create_revision = _revision(min_create_revision, "min_create_revision")
    if max_create_revision:
        request.max_create_revision = _revision(max_create_revision, "max_create_revision")
    return request


def put_request(
    key: KeyLike,
    value: KeyLike,
    *,
    lease: LeaseArg = None,
    prev_kv: bool = False,
    ignore_value: bool = False,
    ignore_lease: bool = False,
) -> rpc_pb2.PutRequest:
    data = to_bytes(value, "value")
    if ignore_value and data:
        raise ValueProvidedError("ignore_value=True keeps the stored value: pass value=b''")
    lid = lease_id(lease)
    if ignore_lease and lid:
        raise LeaseProvidedError("ignore_lease=True keeps the stored lease: pass no lease")
    request = rpc_pb2.PutRequest(key=to_key(key), value=data)
    if lid:
        request.lease = lid
    if prev_kv:
        request.prev_kv = True
    if ignore_value:
        request.ignore_value = True
    if ignore_lease:
        request.ignore_lease = True
    return request


def delete_request(
    key: KeyLike,
    *,
    prefix: bool = False,
    range_end: KeyLike | None = None,
    from_key: bool = False,
    prev_kv: bool = False,
) -> rpc_pb2.DeleteRangeRequest:
    begin, end = key_range(key, prefix=prefix, range_end=range_end, from_key=from_key)
    return rpc_pb2.DeleteRangeRequest(key=begin, range_end=end, prev_kv=prev_kv)
