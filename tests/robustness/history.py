"""The recorded-history format shared by the traffic harness and the checkers.

A history is what clients saw: every KV operation with its call and return times and its
answer, and every watch event in arrival order. It round-trips through JSON so a failing run
can be saved and replayed into the checkers.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("get", "put", "delete", "txn")


@dataclass(frozen=True)
class Op:
    """One KV operation as a client saw it.

    ``ret`` None: the outcome is unknown (timeout, lost connection, unknown error), so the
    operation may have taken effect at any point after ``call``, or never. ``failed``: the
    server answered an error meaning NOT applied; such an op is dropped by the checkers.
    A ``txn`` is a compare-and-swap on one key: if the key's mod_revision equals
    ``expect_mod`` (0: absent) it puts ``value``, else it does nothing.
    """

    client: int
    call: float
    ret: float | None
    kind: str
    key: bytes
    value: bytes | None = None
    expect_mod: int | None = None
    failed: bool = False
    revision: int | None = None
    got_value: bytes | None = None
    got_mod: int | None = None
    succeeded: bool | None = None

    @property
    def unknown(self) -> bool:
        return self.ret is None and not self.failed


@dataclass(frozen=True)
class WatchEvent:
    """One event as a watcher received it."""

    watcher: int
    key: bytes
    type: str  # "PUT" | "DELETE"
    value: bytes | None
    mod_revision: int
    create_revision: int
    version: int
    prev_value: bytes | None = None
    is_create: bool = False


@dataclass(frozen=True)
class WatchOptions:
    """What a watcher asked for: keys in [key, range_end) (etcd's convention: range_end
    empty means the one key, b"\\0" means every key >= key) and whether prev_kv was asked.
    A watcher without options is taken to watch every key, prev_kv checked when present."""

    key: bytes = b"\0"
    range_end: bytes = b"\0"
    prev_kv: bool = False

    def covers(self, key: bytes) -> bool:
        if not self.range_end:
            return key == self.key
        if self.range_end == b"\0":
            return key >= self.key
        return self.key <= key < self.range_end


@dataclass
class History:
    """Operations and watches of one run. ``watches``: watcher id -> (start revision, events
    in arrival order); a watcher re-opened after a failure keeps its id and its events go on
    in the same list. ``watch_options`` is optional (see WatchOptions)."""

    ops: list[Op]
    watches: dict[int, tuple[int, list[WatchEvent]]] = field(default_factory=dict)
    watch_options: dict[int, WatchOptions] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "ops": [_encode(asdict(op)) for op in self.ops],
                "watches": {
                    str(w): [start, [_encode(asdict(e)) for e in events]]
                    for w, (start, events) in self.watches.items()
                },
                "watch_options": {
                    str(w): _encode(asdict(o)) for w, o in self.watch_options.items()
                },
            }
        )

    @classmethod
    def from_json(cls, text: str) -> History:
        data = json.loads(text)
        return cls(
            ops=[Op(**_decode(o)) for o in data["ops"]],
            watches={
                int(w): (start, [WatchEvent(**_decode(e)) for e in events])
                for w, (start, events) in data["watches"].items()
            },
            watch_options={
                int(w): WatchOptions(**_decode(o)) for w, o in data.get("watch_options", {}).items()
            },
        )


def _encode(record: dict[str, Any]) -> dict[str, Any]:
    """bytes become {"b64": ...} so JSON keeps them exactly."""
    return {
        k: {"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v
        for k, v in record.items()
    }


def _decode(record: dict[str, Any]) -> dict[str, Any]:
    return {k: base64.b64decode(v["b64"]) if isinstance(v, dict) else v for k, v in record.items()}
