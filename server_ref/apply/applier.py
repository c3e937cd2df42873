"""Request validation and application: etcd's v3rpc checks and its v3 applier.

``validate_*`` are the checks etcd makes before a request reaches consensus (pure
functions of the request). ``Applier`` applies requests to the store and lessor and
builds the responses, with ``header.revision`` set; the gRPC layer fills in the rest
of the header. A request is validated against the state completely before anything
is written, so a failing request changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from grpc import StatusCode

from etcd3py import _etcd_errors as E
from etcd3py._proto import kv_pb2, rpc_pb2

from ..errors import ServerError
from ..lease.lessor import Lessor
from ..mvcc.store import RangeResult, Store, Version, WriteTxn

DEFAULT_MAX_TXN_OPS = 128

_RangeReq = rpc_pb2.RangeRequest
_Compare = rpc_pb2.Compare

# ---- request checks (etcd's api/v3rpc/key.go) ----


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


def validate_txn(r: rpc_pb2.TxnRequest, max_ops: int = DEFAULT_MAX_TXN_OPS) -> None:
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


def is_txn_read_only(r: rpc_pb2.TxnRequest) -> bool:
    return all(op.WhichOneof("request") == "request_range" for op in (*r.success, *r.failure))


# ---- responses ----


def fill_kv(out: kv_pb2.KeyValue, v: Version, keys_only: bool = False) -> None:
    out.key = v.key
    out.create_revision = v.create_revision
    out.mod_revision = v.mod_revision
    out.version = v.version
    if v.value and not keys_only:
        out.value = v.value
    if v.lease:
        out.lease = v.lease


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
    """Applies requests to the store and lessor (etcd's applierV3backend)."""

    def __init__(self, store: Store, lessor: Lessor, max_txn_ops: int = DEFAULT_MAX_TXN_OPS):
        self.store = store
        self.lessor = lessor
        self.max_txn_ops = max_txn_ops

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
        _compare_to_path(store, r, path)
        if not is_txn_read_only(r):
            _walk_path(r, path, lambda op: self._check_put_op(op))
        _walk_path(r, path, lambda op: self._check_range_op(op))
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
                self._apply_txn(txn, op.request_txn, path, out.response_txn)

    def compact(self, r: rpc_pb2.CompactionRequest) -> rpc_pb2.CompactionResponse:
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

    def lease_revoke(self, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
        """Revoke a lease: its keys are deleted in one revision, in key order."""
        lease = self.lessor.remove(lease_id)
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


# ---- transactions: comparisons and the chosen path ----


def _compare_to_path(store: Store, r: rpc_pb2.TxnRequest, path: list[bool]) -> None:
    """Evaluate every comparison on the path taken, depth first (etcd's compareToPath)."""
    ok = all(_compare(store, c) for c in r.compare)
    path.append(ok)
    for op in r.success if ok else r.failure:
        if op.WhichOneof("request") == "request_txn":
            _compare_to_path(store, op.request_txn, path)


def _walk_path(
    r: rpc_pb2.TxnRequest, path: list[bool], check: Callable[[rpc_pb2.RequestOp], None]
) -> None:
    """Run ``check`` on every non-txn operation of the chosen path."""
    it = iter(path)

    def walk(t: rpc_pb2.TxnRequest) -> None:
        for op in t.success if next(it) else t.failure:
            if op.WhichOneof("request") == "request_txn":
                walk(op.request_txn)
            else:
                check(op)

    walk(r)


# Integer targets: the Version attribute and the Compare oneof field share one name.
_TARGET_FIELD = {
    _Compare.VERSION: "version",
    _Compare.CREATE: "create_revision",
    _Compare.MOD: "mod_revision",
    _Compare.LEASE: "lease",
}


def _compare(store: Store, c: rpc_pb2.Compare) -> bool:
    kvs = store.range(c.key, c.range_end).kvs
    if not kvs:
        if c.target == _Compare.VALUE:
            return False  # a missing key has no value to compare
        return _compare_one(c, None)
    return all(_compare_one(c, v) for v in kvs)


def _compare_one(c: rpc_pb2.Compare, v: Version | None) -> bool:
    which = c.WhichOneof("target_union")
    result = 0
    if c.target == _Compare.VALUE:
        mine = v.value if v is not None else b""
        theirs = c.value if which == "value" else b""
        result = (mine > theirs) - (mine < theirs)
    elif c.target in _TARGET_FIELD:
        field = _TARGET_FIELD[c.target]
        mine_i = getattr(v, field) if v is not None else 0
        theirs_i = getattr(c, field) if which == field else 0
        result = (mine_i > theirs_i) - (mine_i < theirs_i)
    if c.result == _Compare.EQUAL:
        return result == 0
    if c.result == _Compare.NOT_EQUAL:
        return result != 0
    if c.result == _Compare.GREATER:
        return result > 0
    if c.result == _Compare.LESS:
        return result < 0
    return True  # etcd treats an unknown comparison as satisfied
