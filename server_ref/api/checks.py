"""Request checks (etcd's api/v3rpc/key.go), and the KV calls that make them.

``validate_*`` are the checks etcd makes before a request reaches its server: pure
functions of the request. ``CheckedKV`` puts them in front of the server's write
and read paths; the KV servicer and the in-process client of Lock and Election
both call KV through it, as etcd's do through its kvServer.
"""

from __future__ import annotations

from collections.abc import Sequence

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..server.log import Answer
from ..server.server import EtcdServer


def validate_range(r: rpc_pb2.RangeRequest) -> None:
    if not r.key:
        raise ServerError(E.EMPTY_KEY)


def validate_put(r: rpc_pb2.PutRequest) -> None:
    if not r.key:
        raise ServerError(E.EMPTY_KEY)
    if r.ignore_value and r.value:
        raise ServerError(E.VALUE_PROVIDED)
    if r.ignore_lease and r.lease:
        raise ServerError(E.LEASE_PROVIDED)


def validate_delete(r: rpc_pb2.DeleteRangeRequest) -> None:
    if not r.key:
        raise ServerError(E.EMPTY_KEY)


def validate_txn(r: rpc_pb2.TxnRequest, max_ops: int) -> None:
    _check_txn(r, max_ops)
    _check_intervals(r.success)
    _check_intervals(r.failure)


def _check_txn(r: rpc_pb2.TxnRequest, max_ops: int) -> None:
    opc = max(len(r.compare), len(r.success), len(r.failure))
    if opc > max_ops:
        raise ServerError(E.TOO_MANY_OPS)
    for c in r.compare:
        if not c.key:
            raise ServerError(E.EMPTY_KEY)
    for op in (*r.success, *r.failure):
        _check_op(op, max_ops - opc)


def _check_op(op: rpc_pb2.RequestOp, max_ops: int) -> None:
    kind = op.WhichOneof("request")
    if kind == "request_range":
        validate_range(op.request_range)
    elif kind == "request_put":
        validate_put(op.request_put)
    elif kind == "request_delete_range":
        validate_delete(op.request_delete_range)
    elif kind == "request_txn":
        _check_txn(op.request_txn, max_ops)
    else:  # an empty operation
        raise ServerError(E.KEY_NOT_FOUND)


def _deleted(dels: list[tuple[bytes, bytes]], key: bytes) -> bool:
    # A delete of [begin, end) hits key when begin <= key < end; a single-key delete
    # is stored as [key, key + "\0"). A from-key delete keeps its raw "\0" end, so it
    # hits nothing -- etcd 3.5 behaves exactly so, and we keep the same rule.
    return any(begin <= key < end for begin, end in dels)


def _check_intervals(
    ops: Sequence[rpc_pb2.RequestOp],
) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """Reject a txn branch that writes one key twice (etcd's checkIntervals)."""
    dels: list[tuple[bytes, bytes]] = []
    for op in ops:
        if op.WhichOneof("request") == "request_delete_range":
            d = op.request_delete_range
            dels.append((d.key, d.range_end or d.key + b"\x00"))
    puts: set[bytes] = set()
    for op in ops:
        if op.WhichOneof("request") != "request_txn":
            continue
        puts_then, dels_then = _check_intervals(op.request_txn.success)
        puts_else, dels_else = _check_intervals(op.request_txn.failure)
        for k in puts_then:
            if k in puts or _deleted(dels, k):
                raise ServerError(E.DUPLICATE_KEY)
            puts.add(k)
        for k in puts_else:
            if (k in puts and k not in puts_then) or _deleted(dels, k):
                raise ServerError(E.DUPLICATE_KEY)
            puts.add(k)
        dels.extend(dels_then)
        dels.extend(dels_else)
    for op in ops:
        if op.WhichOneof("request") != "request_put":
            continue
        k = op.request_put.key
        if k in puts or _deleted(dels, k):
            raise ServerError(E.DUPLICATE_KEY)
        puts.add(k)
    return puts, dels


class CheckedKV:
    """The KV calls, each checked, then sent down the server's write or read path."""

    def __init__(self, server: EtcdServer) -> None:
        self._server = server
        self._max_txn_ops = server.config.max_txn_ops

    def range(self, r: rpc_pb2.RangeRequest) -> Answer[rpc_pb2.RangeResponse]:
        validate_range(r)
        return self._server.read(r)

    def put(self, r: rpc_pb2.PutRequest) -> Answer[rpc_pb2.PutResponse]:
        if (refusal := self._server.quota.check(r)) is not None:  # first, as etcd's quota
            return refusal  # KV server: before the request checks
        validate_put(r)
        return self._server.propose(r)

    def delete_range(self, r: rpc_pb2.DeleteRangeRequest) -> Answer[rpc_pb2.DeleteRangeResponse]:
        validate_delete(r)
        return self._server.propose(r)

    def txn(self, r: rpc_pb2.TxnRequest) -> Answer[rpc_pb2.TxnResponse]:
        if (refusal := self._server.quota.check(r)) is not None:  # every txn, read-only
            return refusal  # ones too, as etcd's
        validate_txn(r, self._max_txn_ops)
        return self._server.txn(r)

    def compact(self, r: rpc_pb2.CompactionRequest) -> Answer[rpc_pb2.CompactionResponse]:
        return self._server.propose(r)
