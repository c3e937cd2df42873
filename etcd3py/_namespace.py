"""Key translation for ``client.namespace(prefix)``: requests in, responses out (pure).

A view of the client sends every key with its prefix in front and strips the prefix
from every key it hands back, so code written for a whole cluster runs unchanged inside
one prefix. Ranges are kept inside it: a range "to the end of the keyspace" (etcd's
range_end ``\\0``) ends where the prefix's keys end, so ``prefix=True`` on an empty
key, a from-key range and a whole-keyspace range all stay in the namespace. The key
equal to the prefix itself is outside every view: it would be the empty key, which no
call can name. Requests are translated in place: the client builds them afresh for
each call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import _methods as M
from ._keys import FROM_KEY, prefix_end
from ._proto import kv_pb2, rpc_pb2


class Namespace:
    """The translation for one prefix (a nested view's prefix is both prefixes joined)."""

    __slots__ = ("end", "prefix")

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self.end = prefix_end(prefix)

    def __repr__(self) -> str:
        return f"Namespace({self.prefix!r})"

    # ---- towards the server ----

    def key(self, key: bytes) -> bytes:
        return self.prefix + key

    def range(self, key: bytes, end: bytes) -> tuple[bytes, bytes]:
        """(key, range_end) inside the prefix; ``end`` in etcd's encoding (b"": one key,
        b"\\0": every key from ``key`` on, else the exclusive end)."""
        if end == FROM_KEY:
            return self.prefix + key, self.end
        return self.prefix + key, self.prefix + end if end else b""

    def outbound(self, method: M.Method, request: Any) -> Any:
        """``request`` with its keys inside the prefix (changed in place)."""
        translate = _OUTBOUND.get(method.name)
        if translate is not None:
            translate(self, request)
        return request

    def watch_create(self, create: rpc_pb2.WatchCreateRequest) -> None:
        create.key, create.range_end = self.range(create.key, create.range_end)

    def _range_request(self, request: Any) -> None:
        request.key, request.range_end = self.range(request.key, request.range_end)

    def _put(self, request: rpc_pb2.PutRequest) -> None:
        request.key = self.prefix + request.key

    def _txn(self, request: rpc_pb2.TxnRequest) -> None:
        for compare in request.compare:
            begin, end = self.range(compare.key, compare.range_end)
            compare.key = begin
            if compare.range_end:
                compare.range_end = end
        for op in (*request.success, *request.failure):
            kind = op.WhichOneof("request")
            if kind == "request_range":
                self._range_request(op.request_range)
            elif kind == "request_put":
                self._put(op.request_put)
            elif kind == "request_delete_range":
                self._range_request(op.request_delete_range)
            elif kind == "request_txn":
                self._txn(op.request_txn)

    def _name(self, request: Any) -> None:
        request.name = self.prefix + request.name

    def _key(self, request: Any) -> None:
        request.key = self.prefix + request.key

    def _leader(self, request: Any) -> None:
        request.leader.name = self.prefix + request.leader.name
        request.leader.key = self.prefix + request.leader.key

    # ---- back from the server ----

    def inbound(self, method: M.Method, response: Any) -> Any:
        """``response`` with the prefix stripped from its keys (changed in place)."""
        translate = _INBOUND.get(method.name)
        if translate is not None:
            translate(self, response)
        return response

    def strip(self, kv: kv_pb2.KeyValue) -> None:
        kv.key = kv.key[len(self.prefix) :]

    def strip_events(self, events: Iterable[kv_pb2.Event]) -> None:
        for event in events:
            self.strip(event.kv)
            if event.HasField("prev_kv"):
                self.strip(event.prev_kv)

    def _kvs(self, response: Any) -> None:
        for kv in response.kvs:
            self.strip(kv)

    def _prev_kv(self, response: rpc_pb2.PutResponse) -> None:
        if response.HasField("prev_kv"):
            self.strip(response.prev_kv)

    def _prev_kvs(self, response: rpc_pb2.DeleteRangeResponse) -> None:
        for kv in response.prev_kvs:
            self.strip(kv)

    def _txn_response(self, response: rpc_pb2.TxnResponse) -> None:
        for op in response.responses:
            kind = op.WhichOneof("response")
            if kind == "response_range":
                self._kvs(op.response_range)
            elif kind == "response_put":
                self._prev_kv(op.response_put)
            elif kind == "response_delete_range":
                self._prev_kvs(op.response_delete_range)
            elif kind == "response_txn":
                self._txn_response(op.response_txn)

    def _lease_keys(self, response: rpc_pb2.LeaseTimeToLiveResponse) -> None:
        # a lease may hold keys outside the view: those are left out, as Go's view does
        n = len(self.prefix)
        inside = [k[n:] for k in response.keys if k.startswith(self.prefix) and len(k) > n]
        del response.keys[:]
        response.keys.extend(inside)

    def _strip_key(self, response: Any) -> None:
        response.key = response.key[len(self.prefix) :]

    def _leader_key(self, response: Any) -> None:
        n = len(self.prefix)
        response.leader.name = response.leader.name[n:]
        response.leader.key = response.leader.key[n:]

    def _leader_kv(self, response: Any) -> None:
        if response.HasField("kv"):
            self.strip(response.kv)


# by gRPC method name (Txn is one name for both retry classes of transactions)
_OUTBOUND: dict[str, Callable[[Namespace, Any], None]] = {
    M.RANGE.name: Namespace._range_request,
    M.PUT.name: Namespace._put,
    M.DELETE_RANGE.name: Namespace._range_request,
    M.TXN.name: Namespace._txn,
    M.LOCK.name: Namespace._name,
    M.UNLOCK.name: Namespace._key,
    M.CAMPAIGN.name: Namespace._name,
    M.PROCLAIM.name: Namespace._leader,
    M.RESIGN.name: Namespace._leader,
    M.LEADER.name: Namespace._name,
}
_INBOUND: dict[str, Callable[[Namespace, Any], None]] = {
    M.RANGE.name: Namespace._kvs,
    M.PUT.name: Namespace._prev_kv,
    M.DELETE_RANGE.name: Namespace._prev_kvs,
    M.TXN.name: Namespace._txn_response,
    M.LEASE_TIME_TO_LIVE.name: Namespace._lease_keys,
    M.LOCK.name: Namespace._strip_key,
    M.CAMPAIGN.name: Namespace._leader_key,
    M.LEADER.name: Namespace._leader_kv,
}
