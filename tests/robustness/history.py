"""STUB of the recorded-history format (issue 13), written only so the traffic harness
runs on this branch; the checkers' branch owns the real module and replaces this one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    client: int
    call: float
    ret: float | None  # None: outcome unknown (timeout, connection lost, unknown error)
    kind: str  # "get" | "put" | "delete" | "txn"
    key: bytes
    value: bytes | None = None
    expect_mod: int | None = None  # txn: put value if key's mod_revision == expect_mod (0: absent)
    failed: bool = False  # an error that means NOT applied
    revision: int | None = None  # response header revision
    got_value: bytes | None = None
    got_mod: int | None = None  # get
    succeeded: bool | None = None  # txn


@dataclass(frozen=True)
class WatchEvent:
    watcher: int
    key: bytes
    type: str
    value: bytes | None
    mod_revision: int
    create_revision: int
    version: int
    prev_value: bytes | None = None
    is_create: bool = False


@dataclass
class History:
    ops: list[Op]
    watches: dict[int, tuple[int, list[WatchEvent]]]  # watcher -> (start revision, events)
