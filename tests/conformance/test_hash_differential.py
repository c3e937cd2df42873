"""HashKV and Hash, differentially: the same requests (puts, deletes, transactions,
compactions; no leases, whose ids are random) sent to a fresh etcd and a fresh
server_ref give the same hash at the current revision and at past ones, and the same
errors and compact_revision for compacted and future revisions.

server_ref runs as a process on a data directory, with the etcd's name and peer URL,
so it has the etcd's member id: every response, header included, and the whole-db
Hash compare byte for byte.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd3py._proto import rpc_pb2
from tests.support.backends import Backend, prefix_end
from tests.support.servers import EtcdProcess, RefProcess

C = rpc_pb2.Compare
KEYS = [b"a", b"b", b"b/1", b"b/2", b"c"]


class Pair:
    """A fresh etcd and a fresh server_ref given the same requests. ``dirty`` says an
    example stopped half-way (a failure): the next one starts on a fresh pair."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._started = 0
        self._stack = contextlib.ExitStack()
        self.dirty = False
        self.backends: list[Backend] = []
        self._start()

    def _start(self) -> None:
        self._started += 1
        data = self._root / f"etcd{self._started}"
        etcd = EtcdProcess(data, extra_args=["--unsafe-no-fsync"]).start()
        self._stack.callback(etcd.remove)
        ref = RefProcess(
            self._root / f"ref{self._started}",
            peer_port=etcd.peer_port,
            extra_args=["--unsafe-no-fsync"],
        )
        self._stack.callback(ref.remove)
        ref.start()
        self.backends = [Backend("etcd", etcd.endpoint), Backend("server_ref", ref.endpoint)]
        for backend in self.backends:
            self._stack.callback(backend.close)

    def refresh(self) -> None:
        if self.dirty:
            self._stack.close()
            self._start()

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    servers = Pair(tmp_path_factory.mktemp("hash-pair"))
    try:
        yield servers
    finally:
        servers.close()


def call(backend: Backend, op: tuple[Any, ...]) -> Any:
    """Send ``op``; the response (revisions are absolute: both histories are the same)
    or the error."""
    kind, *args = op
    try:
        if kind == "put":
            resp: Any = backend.put(args[0], args[1], prev_kv=True)
        elif kind == "delete":
            key, prefix = args
            resp = backend.delete(key, range_end=prefix_end(key) if prefix else b"")
        elif kind == "txn":
            compare_key, version, success, failure = args
            compare = C(key=compare_key, target=C.VERSION, result=C.EQUAL, version=version)
            resp = backend.txn(
                compare=[compare], success=request_ops(success), failure=request_ops(failure)
            )
        elif kind == "compact":
            revision = max(1, backend.revision() - args[0])
            req = rpc_pb2.CompactionRequest(revision=revision, physical=True)
            resp = backend.kv.Compact(req, timeout=10)
        else:
            resp = backend.maintenance.HashKV(rpc_pb2.HashKVRequest(revision=args[0]), timeout=10)
    except grpc.RpcError as err:
        return err.code(), err.details()
    return resp.SerializeToString(deterministic=True)


def request_ops(changes: list[tuple[bytes, bytes | None]]) -> list[rpc_pb2.RequestOp]:
    return [
        rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key))
        if value is None
        else rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value))
        for key, value in dict(changes).items()  # one change per key, as etcd requires
    ]


def hashes(pair: Pair, since: int) -> list[tuple[int, Any]]:
    """HashKV at -1, 0, around the compaction point, at every revision from ``since``
    and one past the current; then Hash. Each as the pair answered, when equal."""
    etcd = pair.backends[0]
    current = etcd.revision()
    compacted = call(etcd, ("hash_kv", 0))
    compact_rev = rpc_pb2.HashKVResponse.FromString(compacted).compact_revision
    revisions = sorted(
        {-1, 0, compact_rev - 1, compact_rev, compact_rev + 1, *range(since, current + 2)}
    )
    seen = []
    for rev in revisions:
        answers = [call(backend, ("hash_kv", rev)) for backend in pair.backends]
        assert answers[0] == answers[1], f"HashKV at {rev} (compacted at {compact_rev})"
        seen.append((rev, answers[0]))
    whole = [b.maintenance.Hash(rpc_pb2.HashRequest(), timeout=10) for b in pair.backends]
    assert whole[0] == whole[1]
    return seen


def run(pair: Pair, ops: list[tuple[Any, ...]]) -> list[tuple[int, Any]]:
    pair.refresh()
    pair.dirty = True
    since = pair.backends[0].revision()
    for i, op in enumerate(ops):
        answers = [call(backend, op) for backend in pair.backends]
        assert answers[0] == answers[1], f"operation {i}: {op}"
    seen = hashes(pair, since)
    pair.dirty = False
    return seen


def test_hash_kv_answers_as_etcd_does(pair: Pair) -> None:
    rng = random.Random(7)
    ops: list[tuple[Any, ...]] = []
    for _ in range(60):
        roll = rng.random()
        key = rng.choice(KEYS)
        if roll < 0.5:
            ops.append(("put", key, b"v%d" % rng.randrange(100)))
        elif roll < 0.65:
            ops.append(("delete", key, rng.random() < 0.3))
        elif roll < 0.9:
            changes = [(k, rng.choice([None, b"t"])) for k in rng.sample(KEYS, 3)]
            ops.append(("txn", key, rng.randrange(3), changes, changes[:1]))
        else:
            ops.append(("compact", rng.randrange(6)))
    ops.append(("compact", 0))  # at the current revision: HashKV at 0 is still answered
    seen = dict(run(pair, ops))
    assert isinstance(seen[0], bytes)
    compacted = rpc_pb2.HashKVResponse.FromString(seen[0]).compact_revision
    assert (
        seen[compacted]
        == seen[compacted - 1]
        == (
            grpc.StatusCode.OUT_OF_RANGE,
            "etcdserver: mvcc: required revision has been compacted",
        )
    )


key = st.sampled_from(KEYS)
changes = st.lists(st.tuples(key, st.one_of(st.none(), st.sampled_from([b"", b"x", b"yy"]))))
operation = st.one_of(
    st.tuples(st.just("put"), key, st.sampled_from([b"", b"x", b"yy"])),
    st.tuples(st.just("delete"), key, st.booleans()),
    st.tuples(st.just("txn"), key, st.integers(0, 2), changes, changes),
    st.tuples(st.just("compact"), st.integers(0, 5)),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=20))
def test_hash_kv_of_random_histories(pair: Pair, ops: list[tuple[Any, ...]]) -> None:
    run(pair, ops)
