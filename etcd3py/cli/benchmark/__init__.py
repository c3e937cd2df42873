"""``etcd3py benchmark``: etcd's benchmark tool (3.5's commands and flags) on etcd3py.

``benchmark`` is a click group; the ``etcd3py`` console script mounts it, and
``python -m etcd3py.cli.benchmark`` runs it alone.
"""

from __future__ import annotations

from . import (  # noqa: F401  (each module adds its command to the group)
    lease,
    put,
    range,
    stm,
    txn_mixed,
    txn_put,
    watch,
    watch_get,
    watch_latency,
)
from .root import benchmark

__all__ = ["benchmark"]
