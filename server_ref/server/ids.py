"""Ids the server hands out (etcd's idutil.Generator), e.g. for leases granted with ID 0."""

from __future__ import annotations

import time

_ID_MASK_63 = (1 << 63) - 1


class IdGenerator:
    """Unique positive 63-bit ids: member bits on top, a time-seeded counter below."""

    def __init__(self, member: int) -> None:
        self._prefix = (member & 0xFFFF) << 48
        self._suffix = (int(time.time() * 1000) & ((1 << 40) - 1)) << 8

    def next(self) -> int:
        self._suffix += 1
        return (self._prefix | (self._suffix & ((1 << 48) - 1))) & _ID_MASK_63
