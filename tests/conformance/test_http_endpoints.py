"""etcd's HTTP/1.x endpoints on the client URL, beside gRPC on the same port: /health,
/version, and how the port answers what is neither (probed on etcd 3.5.1, recorded in
docs/probes/http_probe.out.txt)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from etcd3py._proto import rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend

HTTP_TIMEOUT = 10.0
CORS = {
    "Access-Control-Allow-Headers": "accept, content-type, authorization",
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS, PUT, DELETE",
    "Access-Control-Allow-Origin": "*",
}


def request(
    backend: Backend, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = backend.endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw_exchange(backend: Backend, data: bytes) -> bytes:
    """What the server sends back to ``data`` before it closes the connection."""
    host, port = backend.endpoint.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_version(backend: Backend) -> None:
    status, headers, body = request(backend, "GET", "/version")
    assert status == 200
    assert json.loads(body) == {"etcdserver": "3.5.1", "etcdcluster": "3.5.0"}
    assert body == b'{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}'
    assert headers["Content-Type"] == "application/json"
    assert CORS.items() <= headers.items()


def test_health(backend: Backend) -> None:
    status, headers, body = request(backend, "GET", "/health")
    assert (status, body) == (200, b'{"health":"true","reason":""}')
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert CORS.items() <= headers.items()
    # 3.5.1 has no ?serializable: the parameter is ignored
    assert request(backend, "GET", "/health?serializable=true")[:1] == (200,)


@pytest.mark.parametrize("path", ["/health", "/version"])
def test_get_only(backend: Backend, path: str) -> None:
    status, headers, body = request(backend, "POST", path, b"{}")
    assert (status, body) == (405, b"Method Not Allowed\n")
    assert headers["Allow"] == "GET"
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


def test_unknown_path(backend: Backend) -> None:
    status, headers, body = request(backend, "GET", "/no/such/path")
    assert (status, body) == (404, b"404 page not found\n")
    assert CORS.items() <= headers.items()


def test_options_answered_by_access_controller(backend: Backend) -> None:
    status, headers, body = request(backend, "OPTIONS", "/anything")
    assert (status, body) == (200, b"")
    assert CORS.items() <= headers.items()


def test_keep_alive_and_http10(backend: Backend) -> None:
    host, port = backend.endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        for _ in range(3):  # one connection, several requests
            conn.request("GET", "/version")
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read().startswith(b'{"etcdserver"')
    finally:
        conn.close()
    answer = raw_exchange(backend, b"GET /version HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 200 OK\r\n")
    assert answer.endswith(b'{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}')


@pytest.mark.parametrize(
    "first_bytes",
    [b"hello\r\n\r\n", b"GET /version\r\n\r\n", b"\x16\x03\x01\x00\x05hello"],
    ids=["garbage", "http0.9", "tls-hello"],
)
def test_neither_http1_nor_grpc_is_closed(backend: Backend, first_bytes: bytes) -> None:
    assert raw_exchange(backend, first_bytes) == b""


@pytest.fixture
def nospace_alarm(backend: Backend) -> Iterator[None]:
    """The NOSPACE alarm raised on the member (as a full backend raises it), then disarmed."""
    member_id = backend.maintenance.Status(rpc_pb2.StatusRequest(), timeout=RPC_TIMEOUT)
    alarm = rpc_pb2.AlarmRequest(memberID=member_id.header.member_id, alarm=rpc_pb2.NOSPACE)
    alarm.action = rpc_pb2.AlarmRequest.ACTIVATE
    backend.maintenance.Alarm(alarm, timeout=RPC_TIMEOUT)
    try:
        yield
    finally:
        alarm.action = rpc_pb2.AlarmRequest.DEACTIVATE
        backend.maintenance.Alarm(alarm, timeout=RPC_TIMEOUT)


def test_health_with_nospace_alarm(backend: Backend, nospace_alarm: None) -> None:
    status, headers, body = request(backend, "GET", "/health")
    assert (status, body) == (503, b'{"health":"false","reason":"ALARM NOSPACE"}\n')
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    # ?exclude=ALARM leaves that alarm out of the check
    status, _, body = request(backend, "GET", "/health?exclude=NOSPACE")
    assert (status, body) == (200, b'{"health":"true","reason":""}')
    status, _, _ = request(backend, "GET", "/health?exclude=CORRUPT")
    assert status == 503


def test_grpc_and_http_share_the_port(backend: Backend, prefix: bytes) -> None:
    """gRPC calls keep working on a channel while HTTP requests come and go on the port."""
    for i in range(5):
        backend.put(prefix + b"k", str(i).encode())
        assert request(backend, "GET", "/health")[0] == 200
    assert backend.range(prefix + b"k").kvs[0].value == b"4"
