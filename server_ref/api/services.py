"""gRPC servicers: the etcd v3 API of one member, on grpc.aio.

Unary handlers do their work without awaiting, so each request is applied atomically
on the event loop. Every etcd error leaves as its exact (status code, message) pair;
anything else is a bug, reported as UNKNOWN without taking the server down.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any, Protocol

import grpc
from google.protobuf.message import DecodeError, Message
from grpc import StatusCode

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2, v3election_pb2, v3lock_pb2

from ..apply.applier import (
    is_txn_read_only,
    validate_delete,
    validate_put,
    validate_range,
    validate_txn,
)
from ..errors import ServerError
from ..mvcc import snapshot as _snapshot
from ..server.server import ETCD_API_VERSION, Node
from .handlers import unary
from .lock_election import ElectionService, InProcessClient, LockService
from .watch import WatchSession, _field_size

log = logging.getLogger("etcd3py.server_ref")


# etcd measures a proposal wrapped in its raft envelope: a request header (13 bytes
# with a typical request id) plus the request's own tag and length prefix.
_RAFT_HEADER_BYTES = 13
_STATUS_DB_BASE = 20480  # bytes a fresh etcd reports for its empty bbolt file


class MemberView(Protocol):
    """What the servicers need from the member that hosts them."""

    node: Node
    member_id: int

    @property
    def serving(self) -> bool: ...

    def header(self, revision: int = 0) -> rpc_pb2.ResponseHeader: ...


class _Base:
    def __init__(self, member: MemberView) -> None:
        self._m = member
        self._node = member.node

    def _header(self, revision: int = 0) -> rpc_pb2.ResponseHeader:
        return self._m.header(revision or self._node.store.rev)

    def _propose(self, request: Message) -> None:
        """Checks etcd makes before a request enters the raft log."""
        size = _RAFT_HEADER_BYTES + _field_size(request.ByteSize())
        if size > self._node.config.max_request_bytes:
            raise ServerError(E.REQUEST_TOO_LARGE)


class KVService(_Base):
    # range, delete_range and txn are also called in process, by Lock and Election

    def range(self, r: rpc_pb2.RangeRequest) -> rpc_pb2.RangeResponse:
        validate_range(r)
        resp = self._node.applier.range(r)
        resp.header.CopyFrom(self._header(resp.header.revision))
        return resp

    Range = unary(range)

    @unary
    def Put(self, r: rpc_pb2.PutRequest) -> rpc_pb2.PutResponse:
        validate_put(r)
        self._propose(r)
        self._node.check_writable()
        resp = self._node.applier.put(r)
        self._node.committed()
        resp.header.CopyFrom(self._header(resp.header.revision))
        return resp

    def delete_range(self, r: rpc_pb2.DeleteRangeRequest) -> rpc_pb2.DeleteRangeResponse:
        validate_delete(r)
        self._propose(r)
        self._node.check_writable(writes=False)
        resp = self._node.applier.delete_range(r)
        self._node.committed()
        resp.header.CopyFrom(self._header(resp.header.revision))
        return resp

    DeleteRange = unary(delete_range)

    def txn(self, r: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
        validate_txn(r, self._node.config.max_txn_ops)
        read_only = is_txn_read_only(r)
        if not read_only:
            self._propose(r)
            self._node.check_writable(writes=_has_put(r))
        resp = self._node.applier.txn(r)
        if not read_only:
            self._node.committed()
        resp.header.CopyFrom(self._header(resp.header.revision))
        return resp

    Txn = unary(txn)

    @unary
    def Compact(self, r: rpc_pb2.CompactionRequest) -> rpc_pb2.CompactionResponse:
        self._propose(r)
        self._node.check_writable(writes=False)
        resp = self._node.applier.compact(r)
        self._node.committed()
        resp.header.CopyFrom(self._header(resp.header.revision))
        return resp


def _has_put(r: rpc_pb2.TxnRequest) -> bool:
    for op in (*r.success, *r.failure):
        kind = op.WhichOneof("request")
        if kind == "request_put" or (kind == "request_txn" and _has_put(op.request_txn)):
            return True
    return False


class WatchService(_Base):
    async def Watch(
        self,
        request_iterator: AsyncIterator[rpc_pb2.WatchRequest],
        context: grpc.aio.ServicerContext[rpc_pb2.WatchRequest, rpc_pb2.WatchResponse],
    ) -> None:
        config = self._node.config
        session = WatchSession(
            self._node.store,
            context,
            self._m.header,
            config.progress_notify_interval,
            config.max_request_bytes,
        )
        await session.run(request_iterator)


class LeaseService(_Base):
    def lease_grant(self, r: rpc_pb2.LeaseGrantRequest) -> rpc_pb2.LeaseGrantResponse:
        """Also called in process, by Lock and Election sessions that bring no lease."""
        node = self._node
        if r.ID == 0:  # the server picks an id
            r.ID = node.next_id()
            while node.lessor.lookup(r.ID) is not None:
                r.ID = node.next_id()
        self._propose(r)
        node.check_writable()
        resp = node.applier.lease_grant(r)
        node.committed()
        node.lease_granted()
        resp.header.CopyFrom(self._header(resp.header.revision))
        return resp

    LeaseGrant = unary(lease_grant)

    @unary
    def LeaseRevoke(self, r: rpc_pb2.LeaseRevokeRequest) -> rpc_pb2.LeaseRevokeResponse:
        self._propose(r)
        self._node.check_writable(writes=False)
        resp = self._node.applier.lease_revoke(r.ID)
        self._node.committed()
        resp.header.CopyFrom(self._header(resp.header.revision))
        return resp

    async def LeaseKeepAlive(
        self,
        request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        lessor = self._node.lessor
        async for req in request_iterator:
            # the header is taken before the renewal, as etcd does
            resp = rpc_pb2.LeaseKeepAliveResponse(ID=req.ID, header=self._header())
            try:
                resp.TTL = lessor.renew(req.ID)
            except ServerError:
                resp.TTL = 0  # a missing lease is answered, not an error
            yield resp

    @unary
    def LeaseTimeToLive(self, r: rpc_pb2.LeaseTimeToLiveRequest) -> rpc_pb2.LeaseTimeToLiveResponse:
        lessor = self._node.lessor
        lease = lessor.lookup(r.ID)
        if lease is None:
            return rpc_pb2.LeaseTimeToLiveResponse(header=self._header(), ID=r.ID, TTL=-1)
        resp = rpc_pb2.LeaseTimeToLiveResponse(
            header=self._header(),
            ID=r.ID,
            TTL=lessor.remaining_seconds(lease),
            grantedTTL=lease.ttl,
        )
        if r.keys:
            resp.keys.extend(sorted(lease.keys))
        return resp

    @unary
    def LeaseLeases(self, r: rpc_pb2.LeaseLeasesRequest) -> rpc_pb2.LeaseLeasesResponse:
        resp = rpc_pb2.LeaseLeasesResponse(header=self._header())
        for lease_id in self._node.lessor.ids():
            resp.leases.add(ID=lease_id)
        return resp


class ClusterService(_Base):
    @unary
    def MemberList(self, r: rpc_pb2.MemberListRequest) -> rpc_pb2.MemberListResponse:
        # etcd's cluster server leaves the revision out of its headers
        header = self._m.header(0)
        return rpc_pb2.MemberListResponse(
            header=header, members=[m.to_pb() for m in self._node.members]
        )


class MaintenanceService(_Base):
    @unary
    def Status(self, r: rpc_pb2.StatusRequest) -> rpc_pb2.StatusResponse:
        node = self._node
        size = _STATUS_DB_BASE + node.store.size_bytes
        resp = rpc_pb2.StatusResponse(
            header=self._header(),
            version=ETCD_API_VERSION,
            dbSize=size,
            dbSizeInUse=size,
            leader=node.leader_id,
            raftIndex=node.raft_index,
            raftTerm=node.raft_term,
            raftAppliedIndex=node.raft_index,
        )
        for mid, alarm in node.alarms:
            resp.errors.append(f"memberID:{mid} alarm:{rpc_pb2.AlarmType.Name(alarm)} ")
        return resp

    @unary
    def Alarm(self, r: rpc_pb2.AlarmRequest) -> rpc_pb2.AlarmResponse:
        resp = self._node.alarm(r)
        if r.action != rpc_pb2.AlarmRequest.GET:
            self._node.committed()
        resp.header.CopyFrom(self._header())
        return resp

    @unary
    def Defragment(self, r: rpc_pb2.DefragmentRequest) -> rpc_pb2.DefragmentResponse:
        return rpc_pb2.DefragmentResponse(header=self._header())  # nothing to reclaim in memory

    @unary
    def HashKV(self, r: rpc_pb2.HashKVRequest) -> rpc_pb2.HashKVResponse:
        store = self._node.store
        rev = store.check_revision(r.revision)
        return rpc_pb2.HashKVResponse(
            header=self._header(),
            hash=store.hash_kv(rev),
            compact_revision=store.compact_rev,
        )

    async def Snapshot(
        self, r: rpc_pb2.SnapshotRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
        data = _snapshot.encode(self._node.store)  # taken at once: a consistent revision
        for blob, remaining in _snapshot.chunks(data):
            yield rpc_pb2.SnapshotResponse(
                header=self._header(), remaining_bytes=remaining, blob=blob
            )

    @unary
    def MoveLeader(self, r: rpc_pb2.MoveLeaderRequest) -> rpc_pb2.MoveLeaderResponse:
        target = next((m for m in self._node.members if m.id == r.targetID), None)
        if target is None or target.is_learner:
            raise ServerError(E.BAD_LEADER_TRANSFEREE)
        # one member leads already; a transfer to itself is done at once, as in raft
        return rpc_pb2.MoveLeaderResponse(header=self._header())

    @unary
    def Hash(self, r: rpc_pb2.HashRequest) -> rpc_pb2.HashResponse:
        store = self._node.store
        return rpc_pb2.HashResponse(header=self._header(), hash=store.hash_kv(store.rev))


def _parse_or_abort(prefix: str) -> Callable[[type[Message], bytes, Any], Awaitable[Message]]:
    async def parse(request_type: type[Message], raw: bytes, context: Any) -> Message:
        try:
            return request_type.FromString(raw)
        except DecodeError as err:
            await context.abort(StatusCode.INTERNAL, f"{prefix}{err}")
            raise  # abort() raises; this keeps type checkers informed

    return parse


# The texts Go's gRPC (and so etcd) gives a request it cannot parse.
_parse_unary = _parse_or_abort("grpc: error unmarshalling request: ")
_parse_streamed = _parse_or_abort("grpc: failed to unmarshal the received message ")


def _parsing(fn: Callable[..., Any], request_type: type[Message], streamed: bool) -> Any:
    """Wrap a servicer method so that it takes raw request bytes, keeping its kind."""

    async def requests(raw: AsyncIterator[bytes], context: Any) -> AsyncIterator[Message]:
        async for item in raw:
            yield await _parse_streamed(request_type, item, context)

    async def argument(raw: Any, context: Any) -> Any:
        if streamed:
            return requests(raw, context)
        return await _parse_unary(request_type, raw, context)

    if inspect.isasyncgenfunction(fn):

        async def generator(raw: Any, context: Any) -> AsyncIterator[Message]:
            async for response in fn(await argument(raw, context), context):
                yield response

        return generator

    async def coroutine(raw: Any, context: Any) -> Any:
        return await fn(await argument(raw, context), context)

    return coroutine


def _register(server: grpc.aio.Server, module: ModuleType, service: str, impl: object) -> None:
    """Serve every method of ``service`` that ``impl`` implements (others: UNIMPLEMENTED).

    Built from the proto descriptors, so the handlers need no generated stub code.
    Requests are parsed here rather than by gRPC, to answer unparseable ones with
    the status etcd (Go gRPC) gives them: INTERNAL, not UNKNOWN.
    """
    descriptor = module.DESCRIPTOR.services_by_name[service]
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in descriptor.methods:
        fn = getattr(impl, method.name, None)
        if fn is None:
            continue
        request = getattr(module, method.input_type.name)
        response = getattr(module, method.output_type.name)
        if method.client_streaming:
            make = (
                grpc.stream_stream_rpc_method_handler
                if method.server_streaming
                else grpc.stream_unary_rpc_method_handler
            )
            behaviour = _parsing(fn, request, streamed=True)
        else:
            make = (
                grpc.unary_stream_rpc_method_handler
                if method.server_streaming
                else grpc.unary_unary_rpc_method_handler
            )
            behaviour = _parsing(fn, request, streamed=False)
        handlers[method.name] = make(behaviour, response_serializer=response.SerializeToString)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(descriptor.full_name, handlers),)
    )


def add_services(server: grpc.aio.Server, member: MemberView) -> None:
    kv, lease = KVService(member), LeaseService(member)
    _register(server, rpc_pb2, "KV", kv)
    _register(server, rpc_pb2, "Watch", WatchService(member))
    _register(server, rpc_pb2, "Lease", lease)
    _register(server, rpc_pb2, "Cluster", ClusterService(member))
    _register(server, rpc_pb2, "Maintenance", MaintenanceService(member))
    client = InProcessClient(member, kv, lease)
    _register(server, v3lock_pb2, "Lock", LockService(client))
    _register(server, v3election_pb2, "Election", ElectionService(client))
