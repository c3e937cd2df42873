"""Transactions: comparison targets with Python operators, and the operations.

client.txn(compare=[Value("k") == "v", Version("n") > 0],
           success=[Put("k", "v2"), Get("k")], failure=[Get("k")])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from . import _check
from ._check import MAX_INT64
from ._keys import KeyLike, key_range, to_bytes
from ._proto import rpc_pb2
from ._requests import LeaseArg, delete_request, lease_id, put_request, range_request
from .errors import ArgumentTypeError

_C = rpc_pb2.Compare


class Compare:
    """A finished comparison, ready to go into ``txn(compare=[...])``."""

    __slots__ = ("_pb",)

    def __init__(self, pb: rpc_pb2.Compare) -> None:
        self._pb = pb

    def to_pb(self) -> rpc_pb2.Compare:
        """The protobuf Compare that goes into the transaction request."""
        return self._pb

    def __repr__(self) -> str:
        pb = self._pb
        op = {_C.EQUAL: "==", _C.NOT_EQUAL: "!=", _C.GREATER: ">", _C.LESS: "<"}[pb.result]
        target = _C.CompareTarget.Name(pb.target).lower()
        operand = getattr(pb, pb.WhichOneof("target_union") or "version")
        return f"Compare({target}({pb.key!r}) {op} {operand!r})"

    def __bool__(self) -> bool:
        raise TypeError("a Compare is evaluated by etcd inside txn(), not by Python")


class _Target:
    """Left-hand side of a comparison; the operators build a Compare."""

    _target: ClassVar[Any]  # a Compare.CompareTarget value
    _field: ClassVar[str]

    __slots__ = ("_end", "_key")

    def __init__(
        self, key: KeyLike, *, prefix: bool = False, range_end: KeyLike | None = None
    ) -> None:
        begin, end = key_range(key, prefix=prefix, range_end=range_end)
        self._key = begin
        self._end = end

    def _operand(self, other: Any) -> Any:
        return _check.integer(other, f"the operand of {type(self).__name__}", -MAX_INT64 - 1)

    def _compare(self, result: Any, other: Any) -> Compare:
        pb = _C(key=self._key, range_end=self._end, target=self._target, result=result)
        setattr(pb, self._field, self._operand(other))
        return Compare(pb)

    def __eq__(self, other: Any) -> Compare:  # type: ignore[override]
        return self._compare(_C.EQUAL, other)

    def __ne__(self, other: Any) -> Compare:  # type: ignore[override]
        return self._compare(_C.NOT_EQUAL, other)

    def __gt__(self, other: Any) -> Compare:
        return self._compare(_C.GREATER, other)

    def __lt__(self, other: Any) -> Compare:
        return self._compare(_C.LESS, other)

    def __ge__(self, other: Any) -> Compare:
        raise TypeError("etcd compares with ==, !=, < and > only")

    __le__ = __ge__
    __hash__ = None  # type: ignore[assignment]


class Value(_Target):
    """The key's value (bytes or str). A missing key fails every value comparison."""

    _target = _C.VALUE
    _field = "value"

    def _operand(self, other: Any) -> Any:
        return to_bytes(other, "value")


class Version(_Target):
    """Modifications since creation; 0 for a missing key."""

    _target = _C.VERSION
    _field = "version"


class CreateRevision(_Target):
    """Revision of the key's creation; 0 for a missing key."""

    _target = _C.CREATE
    _field = "create_revision"


class ModRevision(_Target):
    """Revision of the key's last modification; 0 for a missing key."""

    _target = _C.MOD
    _field = "mod_revision"


class LeaseId(_Target):
    """Id of the lease attached to the key; 0 for none."""

    _target = _C.LEASE
    _field = "lease"

    def _operand(self, other: Any) -> Any:
        return lease_id(other)


# ---- operations ----


@dataclass(frozen=True)
class Put:
    """A write inside a transaction; the fields are those of ``client.put``."""

    key: KeyLike
    value: KeyLike = b""
    lease: LeaseArg = None
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False

    def to_pb(self) -> rpc_pb2.RequestOp:
        """The protobuf RequestOp this write becomes inside a transaction."""
        return rpc_pb2.RequestOp(
            request_put=put_request(
                self.key,
                self.value,
                lease=self.lease,
                prev_kv=self.prev_kv,
                ignore_value=self.ignore_value,
                ignore_lease=self.ignore_lease,
            )
        )


@dataclass(frozen=True)
class Get:
    """A read inside a transaction; takes the options of ``client.get``."""

    key: KeyLike
    options: dict[str, Any] = field(default_factory=dict)

    def __init__(self, key: KeyLike, **options: Any) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "options", options)
        range_request(key, **options)  # bad options fail here, not inside txn()

    def to_pb(self) -> rpc_pb2.RequestOp:
        """The protobuf RequestOp this read becomes inside a transaction."""
        return rpc_pb2.RequestOp(request_range=range_request(self.key, **self.options))


@dataclass(frozen=True)
class Delete:
    """A delete inside a transaction; the fields are those of ``client.delete``."""

    key: KeyLike
    prefix: bool = False
    range_end: KeyLike | None = None
    from_key: bool = False
    prev_kv: bool = False

    def to_pb(self) -> rpc_pb2.RequestOp:
        """The protobuf RequestOp this delete becomes inside a transaction."""
        return rpc_pb2.RequestOp(
            request_delete_range=delete_request(
                self.key,
                prefix=self.prefix,
                range_end=self.range_end,
                from_key=self.from_key,
                prev_kv=self.prev_kv,
            )
        )


Operation = Union[Put, Get, Delete, "Txn"]


@dataclass(frozen=True)
class Txn:
    """A nested transaction (etcd 3.3+)."""

    compare: list[Compare] = field(default_factory=list)
    success: list[Operation] = field(default_factory=list)
    failure: list[Operation] = field(default_factory=list)

    def to_pb(self) -> rpc_pb2.RequestOp:
        """The protobuf RequestOp this nested transaction becomes."""
        return rpc_pb2.RequestOp(request_txn=txn_request(self.compare, self.success, self.failure))


def txn_request(
    compare: list[Compare] | tuple[Compare, ...] = (),
    success: list[Operation] | tuple[Operation, ...] = (),
    failure: list[Operation] | tuple[Operation, ...] = (),
) -> rpc_pb2.TxnRequest:
    for what, items in (("compare", compare), ("success", success), ("failure", failure)):
        if not isinstance(items, (list, tuple)):
            raise ArgumentTypeError(what, items, "a list")
    for c in compare:
        if not isinstance(c, Compare):
            raise ArgumentTypeError("compare", c, "comparisons such as Value('k') == 'v'")
    for op in (*success, *failure):
        if not isinstance(op, (Put, Get, Delete, Txn)):
            raise ArgumentTypeError("success/failure", op, "operations Put, Get, Delete or Txn")
    return rpc_pb2.TxnRequest(
        compare=[c.to_pb() for c in compare],
        success=[op.to_pb() for op in success],
        failure=[op.to_pb() for op in failure],
    )
