"""Request builders shared by the sync and async clients (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Union, runtime_checkable

from . import _check
from ._keys import KeyLike, key_range, to_bytes, to_key
from ._proto import rpc_pb2, v3election_pb2
from ._types import LeaderKey
from .errors import ArgumentError, ArgumentTypeError, LeaseProvidedError, ValueProvidedError

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


# Types found to be LeaseLike: an isinstance check against a runtime-checkable
# Protocol inspects the object's attributes (about 10 µs), every put with a lease.
_LEASE_TYPES: set[type] = set()


def lease_id(lease: LeaseArg, what: str = "lease") -> int:
    """The id of a lease given as an id or as a Lease (refused once known lost)."""
    if lease is None:
        return 0
    if isinstance(lease, int) and not isinstance(lease, bool):
        return _check.lease_id(lease, what)
    kind = type(lease)
    if kind in _LEASE_TYPES or isinstance(lease, LeaseLike):
        _LEASE_TYPES.add(kind)
        lease.check_alive()  # type: ignore[union-attr]
        return lease.id  # type: ignore[union-attr]
    if hasattr(lease, "__enter__") or hasattr(lease, "__aenter__"):
        raise ArgumentTypeError(  # python-etcd3's client.lease(ttl) returns a Lease; ours not
            what,
            lease,
            "a lease id (int) or a Lease: client.lease(ttl) is a context manager "
            "(with client.lease(ttl) as lease: ...), client.grant(ttl) returns a Lease",
        )
    raise ArgumentTypeError(what, lease, "a lease id (int) or a Lease")


def required_lease(lease: LeaseArg, what: str = "lease") -> int:
    """The lease of a Lock or Campaign request, which must not be 0."""
    held_by = lease_id(lease, what)
    if held_by == 0:
        # etcd would grant a lease of its own per call, which nobody keeps alive
        raise ArgumentError(
            what,
            lease,
            "a lease id or a Lease: the lock or candidacy lasts as long as it (for a "
            "lock object, as python-etcd3's client.lock(name, ttl) gives, use "
            "etcd3py.recipes.Mutex)",
        )
    return held_by


def existing_lease(lease: LeaseArg, what: str = "lease") -> int:
    """A lease that must be named (revoke, time_to_live): an id above 0, or a Lease."""
    if lease is None:
        raise ArgumentTypeError(what, lease, "a lease id (int) or a Lease")
    chosen = lease_id(lease, what)
    if chosen == 0:
        raise ArgumentError(what, lease, "a lease id above 0, or a Lease")
    return chosen


def urls(value: object, what: str = "peer_urls") -> list[str]:
    """A list of URLs (one URL given as a str is taken as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(u, str) for u in value):
        raise ArgumentTypeError(what, value, "a list of URLs (str)")
    if not value:
        raise ArgumentError(what, value, "at least one URL")
    return list(value)


def leader_key(leader: LeaderKey) -> v3election_pb2.LeaderKey:
    if not isinstance(leader, LeaderKey):
        raise ArgumentTypeError("leader", leader, "a LeaderKey (campaign returns one)")
    return leader.to_proto()


def _enum(value: str | int | None, table: Mapping[str, Any], what: str) -> Any:
    if value is None:
        return 0
    if isinstance(value, str):
        return table[_check.choice(value, what, table)]
    if isinstance(value, int) and not isinstance(value, bool) and value in table.values():
        return int(value)
    raise ArgumentError(what, value, f"one of {sorted(table)}")


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
    # a falsy value of another type (None, False, 0.0) must not slip past as "default"
    if revision or type(revision) is not int:
        request.revision = _check.revision(revision)
    if limit or type(limit) is not int:
        request.limit = _check.integer(limit, "limit")
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
    if min_mod_revision or type(min_mod_revision) is not int:
        request.min_mod_revision = _check.revision(min_mod_revision, "min_mod_revision")
    if max_mod_revision or type(max_mod_revision) is not int:
        request.max_mod_revision = _check.revision(max_mod_revision, "max_mod_revision")
    if min_create_revision or type(min_create_revision) is not int:
        request.min_create_revision = _check.revision(min_create_revision, "min_create_revision")
    if max_create_revision or type(max_create_revision) is not int:
        request.max_create_revision = _check.revision(max_create_revision, "max_create_revision")
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
