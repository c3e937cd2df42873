"""Transactions: which branch each comparison picks, and what a transaction contains.

Pure functions of the request and the store, used by the applier and by the server
(which sends read-only transactions down the read path).
"""

from __future__ import annotations

from collections.abc import Callable

from etcd3py._proto import rpc_pb2

from ..mvcc.store import Store, Version

_Compare = rpc_pb2.Compare


def is_txn_read_only(r: rpc_pb2.TxnRequest) -> bool:
    return all(op.WhichOneof("request") == "request_range" for op in (*r.success, *r.failure))


def compare_to_path(store: Store, r: rpc_pb2.TxnRequest, path: list[bool]) -> None:
    """Evaluate every comparison on the path taken, depth first (etcd's compareToPath)."""
    ok = all(_compare(store, c) for c in r.compare)
    path.append(ok)
    for op in r.success if ok else r.failure:
        if op.WhichOneof("request") == "request_txn":
            compare_to_path(store, op.request_txn, path)


def walk_path(
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
