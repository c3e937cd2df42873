"""The KV service: the checked KV calls, served over gRPC."""

from __future__ import annotations

from .checks import CheckedKV
from .handlers import unary


class KVService(CheckedKV):
    Range = unary(CheckedKV.range)
    Put = unary(CheckedKV.put)
    DeleteRange = unary(CheckedKV.delete_range)
    Txn = unary(CheckedKV.txn)
    Compact = unary(CheckedKV.compact)
