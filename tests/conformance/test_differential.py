"""Differential test: random KV histories applied to server_ref and to etcd must give
the same responses and errors, revision for revision.

Each example works under a fresh prefix on both servers; revisions are compared
relative to the revision each server had when the example started.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd3py._proto import rpc_pb2
from etcd3py.server_ref import EmbeddedServer
from tests.support.backends import Backend, prefix_end
from tests.support.normalise import normalised
from tests.support.servers import EtcdProcess

NAMES = [b"a", b"b", b"ab", b"b/1", b"b/2", b"c"]
C = rpc_pb2.Compare
RR = rpc_pb2.RangeRequest

name = st.sampled_from(NAMES)
value = st.sampled_from([b"", b"x", b"y", b"zz"])
rev_offset = st.integers(min_value=0, max_value=12)  # relative to the example's start


@st.composite
def key_range(draw: Any) -> tuple[bytes, str]:
    """A (name, range kind) pair: the single key, a prefix, a half-open range."""
    return draw(name), draw(st.sampled_from(["single", "prefix", "range"]))


@st.composite
def range_op(draw: Any) -> tuple[str, dict[str, Any]]:
    spec = draw(key_range())
    return "range", {
        "spec": spec,
        "limit": draw(st.sampled_from([0, 0, 1, 2])),
        "rev": draw(st.one_of(st.just(None), rev_offset)),
        "sort_target": draw(st.sampled_from([RR.KEY, RR.VERSION, RR.CREATE, RR.MOD, RR.VALUE])),
        "sort_order": draw(st.sampled_from([RR.NONE, RR.ASCEND, RR.DESCEND])),
        "keys_only": draw(st.booleans()),
        "count_only": draw(st.sampled_from([False, False, True])),
        "min_mod": draw(st.one_of(st.just(None), rev_offset)),
    }


@st.composite
def put_op(draw: Any) -> tuple[str, dict[str, Any]]:
    return "put", {
        "key": draw(name),
        "value": draw(value),
        "prev_kv": draw(st.booleans()),
        "ignore_value": draw(st.sampled_from([False, False, True])),
    }


@st.composite
def delete_op(draw: Any) -> tuple[str, dict[str, Any]]:
    return "delete", {"spec": draw(key_range()), "prev_kv": draw(st.booleans())}


@st.composite
def compare(draw: Any) -> dict[str, Any]:
    return {
        "key": draw(name),
        "target": draw(st.sampled_from(["version", "create_revision", "mod_revision", "value"])),
        "result": draw(st.sampled_from([C.EQUAL, C.GREATER, C.LESS, C.NOT_EQUAL])),
        "number": draw(st.integers(min_value=0, max_value=3)),
        "value": draw(value),
    }


@st.composite
def txn_op(draw: Any) -> tuple[str, dict[str, Any]]:
    branch = st.lists(st.one_of(range_op(), put_op(), delete_op()), max_size=3)
    return "txn", {
        "compare": draw(st.lists(compare(), max_size=2)),
        "success": draw(branch),
        "failure": draw(branch),
    }


@st.composite
def compact_op(draw: Any) -> tuple[str, dict[str, Any]]:
    return "compact", {"rev": draw(rev_offset)}


operation = st.one_of(
    put_op(), put_op(), delete_op(), range_op(), range_op(), txn_op(), compact_op()
)


class Runner:
    """Turns abstract operations into requests for one server and normalises answers."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.prefix = f"/diff/{uuid.uuid4().hex[:10]}/".encode()
        # a write of our own first: every revision the example names lies after any
        # compaction the server saw before
        self.base = backend.put(b"/diff-marker/" + self.prefix).header.revision

    def abs_rev(self, offset: int) -> int:
        return self.base + offset

    def span(self, spec: tuple[bytes, str]) -> tuple[bytes, bytes]:
        n, kind = spec
        key = self.prefix + n
        if kind == "prefix":
            return key, prefix_end(key)
        if kind == "range":
            return key, self.prefix + b"b0"
        return key, b""

    def range_request(self, a: dict[str, Any]) -> rpc_pb2.RangeRequest:
        key, end = self.span(a["spec"])
        return RR(
            key=key,
            range_end=end,
            limit=a["limit"],
            revision=0 if a["rev"] is None else self.abs_rev(a["rev"]),
            sort_target=a["sort_target"],
            sort_order=a["sort_order"],
            keys_only=a["keys_only"],
            count_only=a["count_only"],
            min_mod_revision=0 if a["min_mod"] is None else self.abs_rev(a["min_mod"]),
        )

    def put_request(self, a: dict[str, Any]) -> rpc_pb2.PutRequest:
        return rpc_pb2.PutRequest(
            key=self.prefix + a["key"],
            value=b"" if a["ignore_value"] else a["value"],
            prev_kv=a["prev_kv"],
            ignore_value=a["ignore_value"],
        )

    def delete_request(self, a: dict[str, Any]) -> rpc_pb2.DeleteRangeRequest:
        key, end = self.span(a["spec"])
        return rpc_pb2.DeleteRangeRequest(key=key, range_end=end, prev_kv=a["prev_kv"])

    def request_op(self, op: tuple[str, dict[str, Any]]) -> rpc_pb2.RequestOp:
        kind, a = op
        if kind == "range":
            return rpc_pb2.RequestOp(request_range=self.range_request(a))
        if kind == "put":
            return rpc_pb2.RequestOp(request_put=self.put_request(a))
        return rpc_pb2.RequestOp(request_delete_range=self.delete_request(a))

    def compare(self, c: dict[str, Any]) -> rpc_pb2.Compare:
        target = {
            "version": C.VERSION,
            "create_revision": C.CREATE,
            "mod_revision": C.MOD,
            "value": C.VALUE,
        }[c["target"]]
        operand: Any = c["value"]
        if c["target"] in ("create_revision", "mod_revision"):
            operand = self.abs_rev(c["number"] + 1)
        elif c["target"] == "version":
            operand = c["number"]
        return C(
            key=self.prefix + c["key"], target=target, result=c["result"], **{c["target"]: operand}
        )

    def run(self, op: tuple[str, dict[str, Any]]) -> Any:
        kind, a = op
        kv = self.backend.kv
        try:
            if kind == "range":
                resp: Any = kv.Range(self.range_request(a), timeout=10)
            elif kind == "put":
                resp = kv.Put(self.put_request(a), timeout=10)
            elif kind == "delete":
                resp = kv.DeleteRange(self.delete_request(a), timeout=10)
            elif kind == "txn":
                resp = kv.Txn(
                    rpc_pb2.TxnRequest(
                        compare=[self.compare(c) for c in a["compare"]],
                        success=[self.request_op(o) for o in a["success"]],
                        failure=[self.request_op(o) for o in a["failure"]],
                    ),
                    timeout=10,
                )
            else:
                resp = kv.Compact(
                    rpc_pb2.CompactionRequest(revision=self.abs_rev(a["rev"])), timeout=10
                )
        except grpc.RpcError as err:
            return ("error", err.code(), err.details())
        return self.normalise(json_format.MessageToDict(resp, preserving_proto_field_name=True))

    def normalise(self, data: Any) -> Any:
        """Revisions relative to the start; no member ids."""
        return normalised(data, self.base)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_same_answers_as_etcd(
    ops: list[tuple[str, dict[str, Any]]], real_etcd: EtcdProcess, ref_server: EmbeddedServer
) -> None:
    etcd = Backend("etcd", real_etcd.endpoint)
    ref = Backend("server_ref", ref_server.endpoint)
    try:
        runners = [Runner(etcd), Runner(ref)]
        # the same prefix on both sides, so keys compare byte for byte
        runners[1].prefix = runners[0].prefix
        for i, op in enumerate(ops):
            expected, actual = (r.run(op) for r in runners)
            assert actual == expected, f"operation {i}: {op}"
    finally:
        etcd.close()
        ref.close()
