"""etcd 3.5.1's HTTP endpoints on a client URL: ``/health``, ``/version``,
``/metrics`` (etcd's etcdhttp package) and the JSON gateway (gateway.py), behind etcd's
access controller (CORS headers on every answer, ``OPTIONS`` answered 200, ``/v3beta/``
read as ``/v3/``); on a metrics URL (``--listen-metrics-urls``) ``/metrics`` and
``/health`` only, without the access controller."""

from __future__ import annotations

import asyncio
import inspect
import json

from etcd3py import _etcd_errors as E
from etcd3py._proto import rpc_pb2

from ..errors import ServerError
from ..server.server import EtcdServer
from .gateway import ROUTES, Gateway
from .http1 import Request, Response, text_error
from .maintenance import ETCD_API_VERSION, cluster_version
from .metrics import CONTENT_TYPE, exposition, registry_for

CORS_HEADERS = [
    ("Access-Control-Allow-Headers", "accept, content-type, authorization"),
    ("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE"),
    ("Access-Control-Allow-Origin", "*"),
]
# the read /health makes may fail on auth and still say the member is healthy
_AUTH_ONLY = (E.USER_EMPTY, E.AUTH_USER_EMPTY, E.PERMISSION_DENIED, E.AUTH_PERMISSION_DENIED)
HEALTH_READ_TIMEOUT = 7.0  # etcd's ReqTimeout: 5 s and two election timeouts of 1 s
_ALARM_REASONS: dict[int, str] = {
    rpc_pb2.NOSPACE: "ALARM NOSPACE",
    rpc_pb2.CORRUPT: "ALARM CORRUPT",
}


def _json(value: dict[str, str]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _method_not_allowed(allowed: str) -> Response:
    response = text_error(405, "Method Not Allowed")
    response.headers.append(("Allow", allowed))
    return response


async def health(server: EtcdServer, excluded: list[str]) -> tuple[bool, str]:
    """etcd's checkV3Health: no alarm (but the excluded ones), a leader, then a
    linearizable one-key read (an auth refusal of it still counts as healthy)."""
    for _, alarm in server.alarms.active:
        name = rpc_pb2.AlarmType.Name(alarm)
        if name in excluded:
            continue
        return False, _ALARM_REASONS.get(alarm, "ALARM UNKNOWN")
    if not server.leader_id:
        return False, "RAFT NO LEADER"
    try:
        answer = server.read(rpc_pb2.RangeRequest(key=b"\0", keys_only=True, limit=1))
        if inspect.isawaitable(answer):
            await asyncio.wait_for(answer, HEALTH_READ_TIMEOUT)
    except TimeoutError:
        return False, f"RANGE ERROR:{E.TIMEOUT.message}"
    except ServerError as err:
        if err.spec not in _AUTH_ONLY:
            return False, f"RANGE ERROR:{err.spec.message}"
    return True, ""


class HttpEndpoints:
    """The HTTP handler of one member's client URLs."""

    def __init__(self, server: EtcdServer) -> None:
        self._server = server
        self._registry = registry_for(server)
        self.gateway: Gateway | None = None  # set once the member's gRPC is bound

    async def __call__(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/v3beta/"):  # etcd's access controller: the old prefix
            path = "/v3/" + path[len("/v3beta/") :]
        route = ROUTES.get(path)
        if request.method == "OPTIONS":
            response = Response(200)
        elif route is not None and self.gateway is not None:
            response = await self.gateway.serve(request, route)
        elif path == "/version":
            response = self._version(request)
        else:
            response = await self.metrics_url(request)
        response.headers.extend(CORS_HEADERS)
        return response

    async def metrics_url(self, request: Request) -> Response:
        """What a metrics URL serves (the client URLs serve it too)."""
        if request.path == "/health":
            return await self._health(request)
        if request.path == "/metrics":
            return Response(200, exposition(self._registry), [("Content-Type", CONTENT_TYPE)])
        return text_error(404, "404 page not found")

    async def _health(self, request: Request) -> Response:
        if request.method != "GET":
            return _method_not_allowed("GET")
        ok, reason = await health(self._server, request.query.get("exclude", []))
        body = _json({"health": "true" if ok else "false", "reason": reason})
        if not ok:
            return text_error(503, body.decode())
        return Response(200, body, [("Content-Type", "text/plain; charset=utf-8")])

    def _version(self, request: Request) -> Response:
        if request.method != "GET":
            return _method_not_allowed("GET")
        body = _json({"etcdserver": ETCD_API_VERSION, "etcdcluster": cluster_version(self._server)})
        return Response(200, body, [("Content-Type", "application/json")])
