"""What an active alarm refuses (etcd's applierV3Corrupt and applierV3Capped).

The server applies proposals through a table (request type -> apply function) and
swaps in the gated table while an alarm is raised, so with no alarm the write path
pays nothing. As in etcd, an alarm refuses a proposal when it is applied: the
proposal was logged and counts in the raft index. Reads are never gated (etcd reads
from the backend applier, whatever the alarms).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, NoReturn

from etcd3py import _etcd_errors as E
from etcd3py._etcd_errors import ErrorSpec
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from .applier import ApplyTable, Response
from .cost import txn_cost

# CORRUPT stops every KV and lease proposal; NOSPACE those that add data, as etcd's
# quota prices them (apply/cost.py).
_CORRUPT_REFUSES = (
    rpc_pb2.PutRequest,
    rpc_pb2.DeleteRangeRequest,
    rpc_pb2.TxnRequest,
    rpc_pb2.CompactionRequest,
    rpc_pb2.LeaseGrantRequest,
    rpc_pb2.LeaseRevokeRequest,
)
_NOSPACE_REFUSES = (rpc_pb2.PutRequest, rpc_pb2.LeaseGrantRequest)


def gated(table: ApplyTable, alarms: Collection[int]) -> ApplyTable:
    """``table`` as the active ``alarms`` (AlarmType values) leave it."""
    if rpc_pb2.CORRUPT in alarms:
        refuse_corrupt = _refuse(E.CORRUPT)
        return {**table, **dict.fromkeys(_CORRUPT_REFUSES, refuse_corrupt)}
    if rpc_pb2.NOSPACE in alarms:
        refuse_nospace = _refuse(E.NO_SPACE)
        capped = {**table, **dict.fromkeys(_NOSPACE_REFUSES, refuse_nospace)}
        capped[rpc_pb2.TxnRequest] = _capped_txn(table[rpc_pb2.TxnRequest])
        return capped
    return table


def _refuse(spec: ErrorSpec) -> Callable[[Any], NoReturn]:
    def refuse(request: Any) -> NoReturn:
        raise ServerError(spec)

    return refuse


def _capped_txn(apply: Callable[[Any], Response]) -> Callable[[Any], Response]:
    def capped(r: rpc_pb2.TxnRequest) -> Response:
        if txn_cost(r) > 0:  # puts at its top level: a nested txn's puts pass, as in etcd
            raise ServerError(E.NO_SPACE)
        return apply(r)

    return capped
