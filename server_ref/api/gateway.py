"""etcd's JSON gateway (grpc-gateway v1, as etcd 3.5.1 serves it on its client URLs):
``POST /v3/<service>/<method>`` with the request as JSON, answered with the response
as JSON, by calling the member's own gRPC server, as etcd's gateway dials its own.

The mapping is protobuf's JSON mapping as etcd's marshaler writes it (probed:
docs/probes/gateway_probe.*): the proto's own field names, bytes in base64, 64-bit
integers as strings, enums by name, fields at their default left out, unknown fields
in a request ignored. A failed call answers ``{"error", "code", "message"}`` with
grpc-gateway's HTTP status for the gRPC code. The ``Authorization`` header goes to
the call as etcd's gateway forwards it (the token).

Watch and LeaseKeepAlive are served as grpc-gateway serves a bidirectional stream: the
requests are the JSON objects of the request body, one after the other, and the answer
is a chunked sequence of ``{"result": ...}`` lines (``{"error": ...}`` if the call
fails) for as long as the call lasts; the request side is closed after the body's
requests, as grpc-gateway closes it (etcd's Watch goes on, its LeaseKeepAlive ends). The
body is read whole first, so a watch is created (or canceled) only by what the body holds
when it ends. Snapshot and Observe (server streams) take one JSON request and answer
the same lines.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from types import ModuleType

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from etcd3py._proto import rpc_pb2, v3election_pb2, v3lock_pb2

from .http1 import Request, Response

# grpc-gateway v1's HTTPStatusFromCode
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 408,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

# path after /v3/ -> (proto module, service, method), etcd 3.5.1's gateway patterns
_UNARY: dict[str, tuple[ModuleType, str, str]] = {
    "kv/range": (rpc_pb2, "KV", "Range"),
    "kv/put": (rpc_pb2, "KV", "Put"),
    "kv/deleterange": (rpc_pb2, "KV", "DeleteRange"),
    "kv/txn": (rpc_pb2, "KV", "Txn"),
    "kv/compaction": (rpc_pb2, "KV", "Compact"),
    "lease/grant": (rpc_pb2, "Lease", "LeaseGrant"),
    "lease/revoke": (rpc_pb2, "Lease", "LeaseRevoke"),
    "kv/lease/revoke": (rpc_pb2, "Lease", "LeaseRevoke"),
    "lease/timetolive": (rpc_pb2, "Lease", "LeaseTimeToLive"),
    "kv/lease/timetolive": (rpc_pb2, "Lease", "LeaseTimeToLive"),
    "lease/leases": (rpc_pb2, "Lease", "LeaseLeases"),
    "kv/lease/leases": (rpc_pb2, "Lease", "LeaseLeases"),
    "cluster/member/add": (rpc_pb2, "Cluster", "MemberAdd"),
    "cluster/member/remove": (rpc_pb2, "Cluster", "MemberRemove"),
    "cluster/member/update": (rpc_pb2, "Cluster", "MemberUpdate"),
    "cluster/member/list": (rpc_pb2, "Cluster", "MemberList"),
    "cluster/member/promote": (rpc_pb2, "Cluster", "MemberPromote"),
    "maintenance/alarm": (rpc_pb2, "Maintenance", "Alarm"),
    "maintenance/status": (rpc_pb2, "Maintenance", "Status"),
    "maintenance/defragment": (rpc_pb2, "Maintenance", "Defragment"),
    # Hash and HashKV share this path; the first registered (Hash) answers (probed)
    "maintenance/hash": (rpc_pb2, "Maintenance", "Hash"),
    "maintenance/transfer-leadership": (rpc_pb2, "Maintenance", "MoveLeader"),
    "maintenance/downgrade": (rpc_pb2, "Maintenance", "Downgrade"),
    "auth/enable": (rpc_pb2, "Auth", "AuthEnable"),
    "auth/disable": (rpc_pb2, "Auth", "AuthDisable"),
    "auth/status": (rpc_pb2, "Auth", "AuthStatus"),
    "auth/authenticate": (rpc_pb2, "Auth", "Authenticate"),
    "auth/user/add": (rpc_pb2, "Auth", "UserAdd"),
    "auth/user/get": (rpc_pb2, "Auth", "UserGet"),
    "auth/user/list": (rpc_pb2, "Auth", "UserList"),
    "auth/user/delete": (rpc_pb2, "Auth", "UserDelete"),
    "auth/user/changepw": (rpc_pb2, "Auth", "UserChangePassword"),
    "auth/user/grant": (rpc_pb2, "Auth", "UserGrantRole"),
    "auth/user/revoke": (rpc_pb2, "Auth", "UserRevokeRole"),
    "auth/role/add": (rpc_pb2, "Auth", "RoleAdd"),
    "auth/role/get": (rpc_pb2, "Auth", "RoleGet"),
    "auth/role/list": (rpc_pb2, "Auth", "RoleList"),
    "auth/role/delete": (rpc_pb2, "Auth", "RoleDelete"),
    "auth/role/grant": (rpc_pb2, "Auth", "RoleGrantPermission"),
    "auth/role/revoke": (rpc_pb2, "Auth", "RoleRevokePermission"),
    "lock/lock": (v3lock_pb2, "Lock", "Lock"),
    "lock/unlock": (v3lock_pb2, "Lock", "Unlock"),
    "election/campaign": (v3election_pb2, "Election", "Campaign"),
    "election/proclaim": (v3election_pb2, "Election", "Proclaim"),
    "election/leader": (v3election_pb2, "Election", "Leader"),
    "election/resign": (v3election_pb2, "Election", "Resign"),
}


# the bidirectional streams: the request body is a sequence of JSON requests, the
# answer a chunked sequence of {"result": ...} lines
_STREAMS: dict[str, tuple[ModuleType, str, str]] = {
    "watch": (rpc_pb2, "Watch", "Watch"),
    "lease/keepalive": (rpc_pb2, "Lease", "LeaseKeepAlive"),
    # server streams: one JSON request, the same chunked lines back
    "maintenance/snapshot": (rpc_pb2, "Maintenance", "Snapshot"),
    "election/observe": (v3election_pb2, "Election", "Observe"),
}


@dataclass(frozen=True)
class Route:
    full_method: str  # /etcdserverpb.KV/Range
    request: type[Message]
    response: type[Message]
    client_streaming: bool = False
    server_streaming: bool = False


def _route(module: ModuleType, service: str, method: str) -> Route:
    descriptor = module.DESCRIPTOR.services_by_name[service]
    found = descriptor.methods_by_name[method]
    return Route(
        f"/{descriptor.full_name}/{method}",
        getattr(module, found.input_type.name),
        getattr(module, found.output_type.name),
        found.client_streaming,
        found.server_streaming,
    )


ROUTES = {f"/v3/{path}": _route(*where) for path, where in {**_UNARY, **_STREAMS}.items()}


def parse_sequence(body: bytes, request_type: type[Message]) -> list[Message]:
    """The JSON requests one after the other in ``body`` (as Go's json.Decoder reads a
    stream of them: whitespace between, none needed)."""
    text = body.decode()
    decoder = json.JSONDecoder()
    messages: list[Message] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return messages
        value, at = decoder.raw_decode(text, at)
        message = request_type()
        json_format.ParseDict(value, message, ignore_unknown_fields=True)
        messages.append(message)


def to_json(message: Message) -> bytes:
    """A message as etcd's gateway writes it (compact, fields in number order)."""
    as_dict = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json.dumps(as_dict, separators=(",", ":")).encode()


def _error(code: grpc.StatusCode, message: str) -> Response:
    body = json.dumps(
        {"error": message, "code": code.value[0], "message": message}, separators=(",", ":")
    ).encode()
    return Response(HTTP_STATUS.get(code, 500), body, [("Content-Type", "application/json")])


class Gateway:
    """Serves the gateway's paths by calling the member's gRPC server at ``target``."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._channel: grpc.aio.Channel | None = None

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self._target, options=[("grpc.max_receive_message_length", -1)]
            )
        return self._channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    async def serve(self, request: Request, route: Route) -> Response:
        if request.method != "POST":
            return Response(
                405,
                b"Method Not Allowed\n",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("X-Content-Type-Options", "nosniff"),
                ],
            )
        metadata = []
        token = request.headers.get("authorization")
        if token is not None:
            metadata.append(("authorization", token))
        if route.server_streaming:
            return self._stream(request, route, metadata)
        message = route.request()
        try:
            json_format.Parse(request.body or b"{}", message, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError) as err:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        call = self._open().unary_unary(
            route.full_method,
            request_serializer=route.request.SerializeToString,
            response_deserializer=route.response.FromString,
        )
        try:
            answer = await call(message, metadata=metadata)
        except grpc.aio.AioRpcError as err:
            return _error(err.code(), err.details() or "")
        return Response(
            200,
            to_json(answer),
            [
                ("Content-Type", "application/json"),
                ("Grpc-Metadata-Content-Type", "application/grpc"),
            ],
        )

    def _stream(self, request: Request, route: Route, metadata: list[tuple[str, str]]) -> Response:
        try:
            messages = parse_sequence(request.body or b"{}", route.request)
        except (ValueError, json_format.ParseError) as err:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, str(err))

        channel = self._open()
        kinds = (route.request.SerializeToString, route.response.FromString)
        call: (
            grpc.aio.StreamStreamCall[Message, Message] | grpc.aio.UnaryStreamCall[Message, Message]
        )
        if route.client_streaming:
            # the requests, then the request side closed, as grpc-gateway does at the end
            # of the body (etcd's Watch goes on after that; its LeaseKeepAlive ends)
            call = channel.stream_stream(route.full_method, *kinds)(
                iter(messages), metadata=metadata
            )
        elif len(messages) == 1:
            call = channel.unary_stream(route.full_method, *kinds)(messages[0], metadata=metadata)
        else:
            return _error(grpc.StatusCode.INVALID_ARGUMENT, "one JSON request expected")

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for answer in call:
                    yield b'{"result":' + to_json(answer) + b"}\n"
            except grpc.aio.AioRpcError as err:
                code = err.code()
                status = HTTP_STATUS.get(code, 500)
                chunk = {
                    "grpc_code": code.value[0],
                    "http_code": status,
                    "message": err.details() or "",
                    "http_status": HTTPStatus(status).phrase,
                }
                yield json.dumps({"error": chunk}, separators=(",", ":")).encode() + b"\n"
            finally:
                call.cancel()

        return Response(
            200,
            headers=[
                ("Content-Type", "application/json"),
                ("Grpc-Metadata-Content-Type", "application/grpc"),
            ],
            stream=lines(),
        )
