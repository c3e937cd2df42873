"""The applier: proposals and reads applied to the store and the lessor (etcd's
applierV3backend).

Each method builds its response with ``header.revision`` set; the server fills in the
rest of the header. A request is checked against the state completely before
anything is written, and a transaction that fails while being applied is rolled
back, so a failing request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from grpc import StatusCode

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..lease.lessor import Lessor
from ..mvcc.store import RangeResult, Store, Version, WriteTxn, fill_kv
from .txn import compare_to_path, is_txn_read_only, walk_path

_RangeReq = rpc_pb2.RangeRequest


class Response(Protocol):
    """What every response has: a header, whose revision the applier sets."""

    @property
    def header(self) -> rpc_pb2.ResponseHeader: ...


ApplyTable = dict[type, Callable[[Any], Response]]
"""How to apply each kind of proposal: request type -> function returning the response."""

_SORT_KEYS: dict[int, Callable[[Version], Any]] = {
    _RangeReq.KEY: lambda v: v.key,
    _RangeReq.VERSION: lambda v: v.version,
    _RangeReq.CREATE: lambda v: v.create_revision,
    _RangeReq.MOD: lambda v: v.mod_revision,
    _RangeReq.VALUE: lambda v: v.value,
}

# etcd 3.5.1 dereferences a nil sorter (and crashes) on an unknown sort target; we
# answer with an error instead. There is no etcd text for it, so the text is ours.
UNKNOWN_SORT_TARGET = E.ErrorSpec(StatusCode.INVALID_ARGUMENT, "etcd3py: unknown sort target")


class Applier:
    """Applies requests to the store and lessor (see the module docstring)."""

    def __init__(self, store: Store, lessor: Lessor) -> None:
        self.store = store
        self.lessor = lessor

    def table(self) -> ApplyTable:
        """The proposals this applier applies, by request type."""
        return {
            rpc_pb2.PutRequest: self.put,
            rpc_pb2.DeleteRangeRequest: self.delete_range,
            rpc_pb2.TxnRequest: self.txn,
            rpc_pb2.CompactionRequest: self.compaction,
            rpc_pb2.LeaseGrantRequest: self.lease_grant,
            rpc_pb2.LeaseRevokeRequest: self.lease_revoke,
        }

    # ---- KV ----

    def range(self, r: rpc_pb2.RangeRequest, txn: WriteTxn | None = None) -> rpc_pb2.RangeResponse:
        if r.sort_target not in _SORT_KEYS:
            raise ServerError(UNKNOWN_SORT_TARGET)
        filtered = bool(
            r.min_mod_revision
            or r.max_mod_revision
            or r.min_create_revision
            or r.max_create_revision
        )
        sort_order = r.sort_order
        if r.sort_target != _RangeReq.KEY and sort_order == _RangeReq.NONE:
            sort_order = _RangeReq.ASCEND  # results come in key order already
        limit = r.limit
        if r.sort_order != _RangeReq.NONE or filtered:
            limit = 0  # fetch everything, then filter, sort and cut
        if limit > 0:
            limit += 1  # one more, to tell whether there is more
        reader = txn if txn is not None else self.store
        rr: RangeResult = reader.range(r.key, r.range_end, r.revision, limit, r.count_only)
        kvs = rr.kvs
        if filtered:
            kvs = [v for v in kvs if _within(v, r)]
        if sort_order in (_RangeReq.ASCEND, _RangeReq.DESCEND):
            kvs.sort(key=_SORT_KEYS[r.sort_target], reverse=sort_order == _RangeReq.DESCEND)
        resp = rpc_pb2.RangeResponse()
        if 0 < r.limit < len(kvs):
            kvs = kvs[: r.limit]
            resp.more = True
        resp.header.revision = rr.rev
        resp.count = rr.count
        add = resp.kvs.add
        keys_only = r.keys_only
        for v in kvs:
            fill_kv(add(), v, keys_only)
        return resp

    def put(self, r: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
        self._check_put(r, self.store.rev)
        txn = self.store.write()
        resp = self._put(txn, r)
        txn.end()
        return resp

    def delete_range(self, r: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
        txn = self.store.write()
        resp = self._delete(txn, r)
        txn.end()
        return resp

    def _check_put(self, r: rpc_pb2.PutRequest, rev: int) -> None:
        if (r.ignore_value or r.ignore_lease) and self.store.get(r.key, rev) is None:
            raise ServerError(E.KEY_NOT_FOUND)
        if r.lease and self.lessor.lookup(r.lease) is None:
            raise ServerError(E.LEASE_NOT_FOUND)

    def _put(self, txn: WriteTxn, r: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
        resp = rpc_pb2.PutResponse()
        value, lease = r.value, r.lease
        if r.ignore_value or r.ignore_lease or r.prev_kv:
            prev = txn.get(r.key)
            if prev is not None:
                if r.ignore_value:
                    value = prev.value
                if r.ignore_lease:
                    lease = prev.lease
                if r.prev_kv:
                    fill_kv(resp.prev_kv, prev)
        txn.put(r.key, value, lease)
        resp.header.revision = txn.begin_rev + 1
        return resp

    def _delete(self, txn: WriteTxn, r: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
        resp = rpc_pb2.DeleteRangeResponse()
        deleted = txn.delete_range(r.key, r.range_end)
        if r.prev_kv:
            for v in deleted:
                fill_kv(resp.prev_kvs.add(), v)
        resp.deleted = len(deleted)
        resp.header.revision = txn.read_rev
        return resp

    def txn(self, r: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        store = self.store
        path: list[bool] = []
        compare_to_path(store, r, path)
        if not is_txn_read_only(r):
            walk_path(r, path, self._check_put_op)
        walk_path(r, path, self._check_range_op)
        txn = store.write()
        resp = rpc_pb2.TxnResponse()
        try:
            self._apply_txn(txn, r, iter(path), resp)
        except BaseException:
            txn.abort()
            raise
        resp.header.revision = txn.end()
        return resp

    def _check_put_op(self, op: rpc_pb2.RequestOp) -> None:
        if op.WhichOneof("request") == "request_put":
            self._check_put(op.request_put, self.store.rev)

    def _check_range_op(self, op: rpc_pb2.RequestOp) -> None:
        if op.WhichOneof("request") != "request_range":
            return
        rev = op.request_range.revision
        if rev == 0:
            return
        if rev > self.store.rev:
            raise ServerError(E.FUTURE_REV)
        # etcd compares against the compaction revision directly here, so a negative
        # revision below it is "compacted" in a txn while Range reads it as "current".
        if rev < self.store.compact_rev:
            raise ServerError(E.COMPACTED)

    def _apply_txn(
        self,
        txn: WriteTxn,
        r: rpc_pb2.TxnRequest,
        path: Iterable[bool],
        resp: rpc_pb2.TxnResponse,
    ) -> None:
        path = iter(path)
        succeeded = next(path)
        resp.succeeded = succeeded
        for op in r.success if succeeded else r.failure:
            kind = op.WhichOneof("request")
            out = resp.responses.add()
            if kind == "request_range":
                out.response_range.CopyFrom(self.range(op.request_range, txn))
            elif kind == "request_put":
                out.response_put.CopyFrom(self._put(txn, op.request_put))
            elif kind == "request_delete_range":
                out.response_delete_range.CopyFrom(self._delete(txn, op.request_delete_range))
            elif kind == "request_txn":
                out.response_txn.header.SetInParent()  # etcd's nested answer: an empty header
                self._apply_txn(txn, op.request_txn, path, out.response_txn)

    def compaction(self, r: rpc_pb2.CompactionRequest) -> rpc_pb2.CompactionResponse:
        self.store.compact(r.revision)
        resp = rpc_pb2.CompactionResponse()
        resp.header.revision = self.store.rev
        return resp

    # ---- leases ----

    def lease_grant(self, r: rpc_pb2.LeaseGrantRequest) -> rpc_pb2.LeaseGrantResponse:
        lease = self.lessor.grant(r.ID, r.TTL)
        resp = rpc_pb2.LeaseGrantResponse(ID=lease.id, TTL=lease.ttl)
        resp.header.revision = self.store.rev
        return resp

    def lease_revoke(self, r: rpc_pb2.LeaseRevokeRequest) -> rpc_pb2.LeaseRevokeResponse:
        """Revoke a lease: its keys are deleted in one revision, in key order."""
        lease = self.lessor.remove(r.ID)
        txn = self.store.write()
        for key in sorted(lease.keys):
            txn.delete_range(key, b"")
        resp = rpc_pb2.LeaseRevokeResponse()
        resp.header.revision = txn.end()
        return resp


def _within(v: Version, r: rpc_pb2.RangeRequest) -> bool:
    if r.max_mod_revision and v.mod_revision > r.max_mod_revision:
        return False
    if r.min_mod_revision and v.mod_revision < r.min_mod_revision:
        return False
    if r.max_create_revision and v.create_revision > r.max_create_revision:
        return False
    return not (r.min_create_revision and v.create_revision < r.min_create_revision)
