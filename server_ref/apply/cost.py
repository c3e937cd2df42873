"""What a request costs against the space quota (etcd 3.5.1's quota.go ``Cost``).

etcd charges the requests that add data, by an estimate rather than their real
footprint: a put costs its key and value plus 256 bytes of metadata, a transaction
the dearer of its two branches (only the puts at its top level count: a nested
transaction costs nothing, so etcd lets it through while NOSPACE is raised, as
probed), a lease grant 64 bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

from etcd3py._proto import rpc_pb2

KV_OVERHEAD = 256  # etcd's kvOverhead: a key's metadata
LEASE_OVERHEAD = 64  # etcd's leaseOverhead

QuotaRequest = rpc_pb2.PutRequest | rpc_pb2.TxnRequest | rpc_pb2.LeaseGrantRequest
"""The requests etcd checks against its quota: the ones that add data."""


def put_cost(r: rpc_pb2.PutRequest) -> int:
    return KV_OVERHEAD + len(r.key) + len(r.value)


def _branch_cost(ops: Sequence[rpc_pb2.RequestOp]) -> int:
    return sum(put_cost(op.request_put) for op in ops if op.WhichOneof("request") == "request_put")


def txn_cost(r: rpc_pb2.TxnRequest) -> int:
    return max(_branch_cost(r.success), _branch_cost(r.failure))


def cost(r: QuotaRequest) -> int:
    if isinstance(r, rpc_pb2.PutRequest):
        return put_cost(r)
    if isinstance(r, rpc_pb2.TxnRequest):
        return txn_cost(r)
    return LEASE_OVERHEAD
