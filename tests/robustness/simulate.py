"""Known-good histories: a sequential etcd-like KV run, its operations spread over
concurrent clients around their linearization points, watchers fed from the same run.
Used by the checkers' tests and to measure checking speed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tests.robustness.history import History, Op, WatchEvent


@dataclass
class _Kv:
    revision: int = 1
    data: dict[bytes, tuple[bytes, int, int, int]] = field(default_factory=dict)
    log: list[tuple[int, bytes, str, bytes | None, int, int, bytes | None]] = field(
        default_factory=list
    )

    def put(self, key: bytes, value: bytes) -> int:
        self.revision += 1
        old = self.data.get(key)
        create = old[2] if old else self.revision
        version = old[3] + 1 if old else 1
        self.data[key] = (value, self.revision, create, version)
        self.log.append(
            (self.revision, key, "PUT", value, create, version, old[0] if old else None)
        )
        return self.revision

    def delete(self, key: bytes) -> int:
        old = self.data.pop(key, None)
        if old is not None:
            self.revision += 1
            self.log.append((self.revision, key, "DELETE", None, 0, 0, old[0]))
        return self.revision


def random_history(
    seed: int,
    n_ops: int = 300,
    n_keys: int = 5,
    n_clients: int = 6,
    unknown: float = 0.03,
    spread: float = 1.5,
) -> History:
    rng = random.Random(seed)
    kv = _Kv()
    last_ret = [0.0] * n_clients
    ops: list[Op] = []
    for i in range(n_ops):
        point = float(i)
        free = [c for c in range(n_clients) if last_ret[c] <= point]
        client = rng.choice(free)
        call = rng.uniform(max(last_ret[client], point - 2 * spread), point)
        ret: float | None = point + rng.uniform(0.0, spread)
        key = b"k%d" % rng.randrange(n_keys)
        kind = rng.choice(("get", "get", "put", "put", "delete", "txn"))
        lost = kind != "get" and rng.random() < unknown
        applied = not lost or rng.random() < 0.5
        value = b"v%d" % i
        if lost:
            ret = None
            last_ret[client] = point + spread  # the client gave up on it later
        else:
            assert ret is not None
            last_ret[client] = ret
        if kind == "get":
            held = kv.data.get(key)
            op = Op(
                client,
                call,
                ret,
                kind,
                key,
                revision=kv.revision,
                got_value=held[0] if held else None,
                got_mod=held[1] if held else None,
            )
        elif kind == "put":
            rev = kv.put(key, value) if applied else None
            op = Op(client, call, ret, kind, key, value, revision=rev if ret else None)
        elif kind == "delete":
            rev = kv.delete(key) if applied else None
            op = Op(client, call, ret, kind, key, revision=rev if ret else None)
        else:
            held = kv.data.get(key)
            current = held[1] if held else 0
            expect = current if rng.random() < 0.6 else rng.randrange(1, kv.revision + 1)
            succeeded = expect == current
            rev = None
            if applied:
                rev = kv.put(key, value) if succeeded else kv.revision
            op = Op(
                client,
                call,
                ret,
                kind,
                key,
                value,
                expect_mod=expect,
                revision=rev if ret else None,
                succeeded=succeeded if ret else None,
            )
        ops.append(op)
    watches: dict[int, tuple[int, list[WatchEvent]]] = {}
    for watcher in range(3):
        start = rng.randrange(1, max(2, kv.revision // 2))
        stop = rng.randrange(start, kv.revision + 1)
        events = [
            WatchEvent(
                watcher,
                key,
                kind,
                value,
                rev,
                create,
                version,
                prev,
                kind == "PUT" and create == rev,
            )
            for rev, key, kind, value, create, version, prev in kv.log
            if start <= rev <= stop
        ]
        watches[watcher] = (start, events)
    return History(ops, watches)
