"""server_ref's client port: gRPC and HTTP/1.x on one port through the front listener,
and etcd's --listen-client-http-urls (etcd 3.5.8+; 3.5.1 has no such flag, so these
run on server_ref only) that splits them."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref import EmbeddedServer
from etcd3py.server_ref.embed.front import HTTP2_PREFACE, MAX_FIRST_LINE, classify
from tests.support.servers import free_port, wait_until_serving

TIMEOUT = 10.0


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (HTTP2_PREFACE, "h2"),
        (HTTP2_PREFACE + b"\x00\x00", "h2"),
        (HTTP2_PREFACE[:10], None),  # could still be the preface
        (b"GET /health HTTP/1.1\r\n", "http1"),
        (b"POST /v3/kv/put HTTP/1.0\n", "http1"),
        (b"GET /health HTTP/1.1", None),  # the line is not complete yet
        (b"GET /health\r\n", "close"),  # HTTP/0.9
        (b"GET /health HTTP/2.0\r\n", "close"),
        (b"hello\r\n", "close"),
        (b"x" * MAX_FIRST_LINE, "close"),  # no request line in what cmux reads
    ],
)
def test_classify(head: bytes, kind: str | None) -> None:
    assert classify(head) == kind


def http_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def grpc_put(port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"v"), timeout=TIMEOUT)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


def test_kill_closes_the_port_and_stop_frees_it() -> None:
    """After kill() nothing listens (the port is only held for the restart:
    tests/server_ref/test_port_hold.py); after stop() the port is free."""
    server = EmbeddedServer().start()
    port = server.port
    try:
        grpc_put(port)
        assert http_status(port, "/health") == 200
        server.kill()
        assert refused(port)  # the front listener is gone with the member
        server.revive()
        grpc_put(port)
        assert http_status(port, "/version") == 200
    finally:
        server.stop()
    assert port_is_free(port)


@pytest.fixture
def split_server() -> Iterator[tuple[int, int]]:
    """A server_ref process with gRPC on one port and HTTP on another."""
    grpc_port, http_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "etcd3py.server_ref",
            "--listen-client-urls", f"http://127.0.0.1:{grpc_port}",
            "--listen-client-http-urls", f"http://127.0.0.1:{http_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_until_serving(f"127.0.0.1:{grpc_port}", 30, lambda: proc.poll() is None)
        yield grpc_port, http_port
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        sys.stderr.write(err.decode(errors="replace"))  # shown with a failure's report


def test_listen_client_http_urls_split_the_protocols(split_server: tuple[int, int]) -> None:
    grpc_port, http_port = split_server
    grpc_put(grpc_port)
    assert http_status(http_port, "/health") == 200
    with pytest.raises(grpc.RpcError) as err:  # the HTTP URL closes gRPC connections
        grpc_put(http_port)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises((http.client.HTTPException, ConnectionError)):  # gRPC's port: no HTTP/1
        http_status(grpc_port, "/health")


def test_one_url_cannot_be_both() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [
            sys.executable, "-m", "etcd3py.server_ref",
            "--listen-client-urls", url, "--listen-client-http-urls", url,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1
    assert (
        "cannot bind both --client-listen-urls and --client-listen-http-urls on the same url"
        in proc.stderr
    )
