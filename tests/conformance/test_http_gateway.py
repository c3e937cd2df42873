"""etcd's JSON gateway on the client URL (``POST /v3/...``): the same JSON requests to
etcd 3.5.1 and server_ref give the same answers, ids and revisions aside (probed:
docs/probes/gateway_probe.*)."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etcd3py.server_ref import EmbeddedServer
from tests.support.backends import Backend
from tests.support.servers import EtcdProcess

HTTP_TIMEOUT = 10.0
HEADER_KEYS = {"cluster_id", "member_id", "revision", "raft_term"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def call(
    backend: Backend,
    path: str,
    body: object | None = None,
    method: str = "POST",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    host, port = backend.endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def ok(backend: Backend, path: str, body: object) -> dict[str, Any]:
    status, headers, data = call(backend, path, body)
    assert status == 200, data
    assert headers["Content-Type"] == "application/json"
    answer: dict[str, Any] = json.loads(data)
    assert set(answer["header"]) <= HEADER_KEYS
    assert all(isinstance(v, str) for v in answer["header"].values())  # int64: strings
    return answer


def error(backend: Backend, path: str, body: object) -> tuple[int, dict[str, Any]]:
    status, headers, data = call(backend, path, body)
    assert headers["Content-Type"] == "application/json"
    answer: dict[str, Any] = json.loads(data)
    assert list(answer) == ["error", "code", "message"]
    assert answer["error"] == answer["message"]
    return status, answer


def test_put_range_delete(backend: Backend, prefix: bytes) -> None:
    key = prefix + b"k"
    put = ok(backend, "/v3/kv/put", {"key": b64(key), "value": b64(b"v1")})
    assert list(put) == ["header"]
    rev = int(put["header"]["revision"])
    again = ok(backend, "/v3/kv/put", {"key": b64(key), "value": b64(b"v2"), "prev_kv": True})
    assert again["prev_kv"] == {
        "key": b64(key),
        "create_revision": str(rev),
        "mod_revision": str(rev),
        "version": "1",
        "value": b64(b"v1"),
    }
    got = ok(
        backend,
        "/v3/kv/range",
        {"key": b64(prefix), "range_end": b64(prefix[:-1] + bytes([prefix[-1] + 1]))},
    )
    assert got["count"] == "1"
    assert got["kvs"] == [
        {
            "key": b64(key),
            "create_revision": str(rev),
            "mod_revision": str(rev + 1),
            "version": "2",
            "value": b64(b"v2"),
        }
    ]
    keys_only = ok(backend, "/v3/kv/range", {"key": b64(key), "keys_only": True})
    assert "value" not in keys_only["kvs"][0]  # a default (empty) field is left out
    deleted = ok(backend, "/v3/kv/deleterange", {"key": b64(key)})
    assert deleted["deleted"] == "1"
    none = ok(backend, "/v3/kv/range", {"key": b64(key)})
    assert set(none) == {"header"}  # no kvs, count 0: both left out


def test_txn(backend: Backend, prefix: bytes) -> None:
    key = prefix + b"t"
    ok(backend, "/v3/kv/put", {"key": b64(key), "value": b64(b"x")})
    txn = {
        "compare": [{"key": b64(key), "result": "EQUAL", "target": "VALUE", "value": b64(b"x")}],
        "success": [{"request_put": {"key": b64(key), "value": b64(b"y")}}],
        "failure": [{"request_range": {"key": b64(key)}}],
    }
    first = ok(backend, "/v3/kv/txn", txn)
    assert first["succeeded"] is True
    assert list(first["responses"][0]) == ["response_put"]
    second = ok(backend, "/v3/kv/txn", txn)
    assert "succeeded" not in second  # false: the default, left out
    [response] = second["responses"]
    assert response["response_range"]["kvs"][0]["value"] == b64(b"y")


def test_errors(backend: Backend, prefix: bytes) -> None:
    status, body = error(backend, "/v3/kv/range", {"key": b64(prefix), "revision": "1000000000"})
    assert status == 400
    assert body["code"] == 11
    assert body["message"] == "etcdserver: mvcc: required revision is a future revision"
    assert error(backend, "/v3/kv/range", {}) == (
        400,
        {
            "error": "etcdserver: key is not provided",
            "code": 3,
            "message": "etcdserver: key is not provided",
        },
    )
    status, body = error(backend, "/v3/lease/revoke", {"ID": "1"})
    assert (status, body["code"], body["message"]) == (
        404,
        5,
        "etcdserver: requested lease not found",
    )
    status, body = error(backend, "/v3/auth/user/get", {"name": "nobody-" + prefix.hex()})
    assert (status, body["code"], body["message"]) == (400, 9, "etcdserver: user name not found")
    status, _, data = call(backend, "/v3/kv/range", raw=b"{bad")
    assert status == 400 and json.loads(data)["code"] == 3  # the parser's text differs (Go's)


def test_lease(backend: Backend) -> None:
    granted = ok(backend, "/v3/lease/grant", {"TTL": 60})
    lease = granted["ID"]
    assert isinstance(lease, str) and granted["TTL"] == "60"
    try:
        for path in ("/v3/lease/timetolive", "/v3/kv/lease/timetolive"):
            alive = ok(backend, path, {"ID": lease})
            assert alive["ID"] == lease and alive["grantedTTL"] == "60"
            assert 0 < int(alive["TTL"]) <= 60
        leases = ok(backend, "/v3/lease/leases", {})
        assert {"ID": lease} in leases["leases"]
    finally:
        assert list(ok(backend, "/v3/lease/revoke", {"ID": lease})) == ["header"]


def test_maintenance_and_cluster(backend: Backend) -> None:
    status = ok(backend, "/v3/maintenance/status", {})
    assert status["version"] == "3.5.1"
    assert {"dbSize", "leader", "raftIndex", "raftTerm", "raftAppliedIndex"} <= set(status)
    assert all(isinstance(status[k], str) for k in ("dbSize", "leader", "raftIndex"))
    hashed = ok(backend, "/v3/maintenance/hash", {})
    assert set(hashed) == {"header", "hash"}  # Hash, not HashKV, answers this path
    assert isinstance(hashed["hash"], int)  # uint32: a JSON number
    alarms = ok(backend, "/v3/maintenance/alarm", {"action": "GET"})
    assert set(alarms) == {"header"}
    members = ok(backend, "/v3/cluster/member/list", {})["members"]
    assert len(members) == 1
    assert {"ID", "name", "peerURLs", "clientURLs"} <= set(members[0])


def test_prefixes_and_methods(backend: Backend, prefix: bytes) -> None:
    key = {"key": b64(prefix + b"p")}
    assert call(backend, "/v3beta/kv/range", key)[0] == 200
    assert call(backend, "/v3alpha/kv/range", key)[0] == 404
    assert call(backend, "/v3/kv/range", {**key, "no_such_field": 1})[0] == 200
    status, _, body = call(backend, "/v3/kv/range", method="GET")
    assert (status, body) == (405, b"Method Not Allowed\n")


def test_auth_without_auth_enabled(backend: Backend, prefix: bytes) -> None:
    name = "gw-" + prefix.hex()
    assert list(ok(backend, "/v3/auth/user/add", {"name": name, "password": "pw"})) == ["header"]
    try:
        assert name in ok(backend, "/v3/auth/user/list", {})["users"]
        assert set(ok(backend, "/v3/auth/user/get", {"name": name})) == {"header"}  # no roles
        status, body = error(backend, "/v3/auth/authenticate", {"name": name, "password": "pw"})
        assert (status, body["code"]) == (400, 9)
        assert body["message"] == "etcdserver: authentication is not enabled"
        assert ok(backend, "/v3/auth/status", {}).get("enabled") is None  # false: left out
    finally:
        ok(backend, "/v3/auth/user/delete", {"name": name})


def open_stream(
    backend: Backend, path: str, body: bytes
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    host, port = backend.endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT)
    conn.request("POST", path, body=body)
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    return conn, resp


def next_result(resp: http.client.HTTPResponse) -> dict[str, Any]:
    line = json.loads(resp.readline())
    assert list(line) == ["result"]
    result: dict[str, Any] = line["result"]
    return result


def test_watch_stream(backend: Backend, prefix: bytes) -> None:
    key = prefix + b"w"
    body = json.dumps({"create_request": {"key": b64(key)}}).encode()
    conn, resp = open_stream(backend, "/v3/watch", body)
    try:
        created = next_result(resp)
        assert created["created"] is True
        assert "watch_id" not in created  # the first watch: id 0, left out
        ok(backend, "/v3/kv/put", {"key": b64(key), "value": b64(b"1")})
        ok(backend, "/v3/kv/delete" + "range", {"key": b64(key)})
        events: list[dict[str, Any]] = []
        while len(events) < 2:
            events += next_result(resp)["events"]
        put, deleted = events
        assert "type" not in put  # PUT: the default
        assert put["kv"]["key"] == b64(key) and put["kv"]["value"] == b64(b"1")
        assert deleted["type"] == "DELETE"
        assert deleted["kv"]["key"] == b64(key) and "value" not in deleted["kv"]
    finally:
        conn.close()


def test_keepalive_stream(backend: Backend) -> None:
    lease = ok(backend, "/v3/lease/grant", {"TTL": 60})["ID"]
    try:
        body = json.dumps({"ID": lease}).encode() * 2  # two requests, one after the other
        conn, resp = open_stream(backend, "/v3/lease/keepalive", body)
        try:
            for _ in range(2):
                assert {k: v for k, v in next_result(resp).items() if k != "header"} == {
                    "ID": lease,
                    "TTL": "60",
                }
        finally:
            conn.close()
    finally:
        ok(backend, "/v3/lease/revoke", {"ID": lease})


@pytest.fixture(params=["server_ref", "etcd"])
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A server of the test's own (auth is turned on in it)."""
    if request.param == "etcd":
        proc = EtcdProcess(tmp_path / "etcd", extra_args=["--unsafe-no-fsync"])
        proc.start()
        try:
            yield Backend("etcd", proc.endpoint)
        finally:
            proc.remove()
    else:
        with EmbeddedServer() as server:
            yield Backend("server_ref", server.endpoint)


def test_auth_token_in_authorization_header(own_server: Backend) -> None:
    backend = own_server
    ok(backend, "/v3/auth/user/add", {"name": "root", "password": "secret"})
    ok(backend, "/v3/auth/user/grant", {"user": "root", "role": "root"})
    ok(backend, "/v3/auth/enable", {})
    for path in ("/v3/kv/range", "/v3/auth/status"):  # no token: no user
        status, body = error(backend, path, {"key": b64(b"k")})
        assert (status, body["code"], body["message"]) == (400, 3, "etcdserver: user name is empty")
    status, body = error(backend, "/v3/auth/authenticate", {"name": "root", "password": "wrong"})
    assert (status, body["code"]) == (400, 3)
    assert body["message"] == "etcdserver: authentication failed, invalid user ID or password"
    token = ok(backend, "/v3/auth/authenticate", {"name": "root", "password": "secret"})["token"]
    headers = {"Authorization": token}
    status, _, data = call(
        backend, "/v3/kv/put", {"key": b64(b"k"), "value": b64(b"v")}, headers=headers
    )
    assert status == 200, data
    status, _, data = call(backend, "/v3/kv/range", {"key": b64(b"k")}, headers=headers)
    assert json.loads(data)["kvs"][0]["value"] == b64(b"v")
    status, _, data = call(backend, "/v3/auth/status", {}, headers=headers)
    assert json.loads(data)["enabled"] is True
    status, _, data = call(backend, "/v3/auth/disable", {}, headers=headers)
    assert status == 200, data


def test_snapshot_stream(backend: Backend) -> None:
    conn, resp = open_stream(backend, "/v3/maintenance/snapshot", b"{}")
    try:
        lines = [json.loads(line) for line in resp.read().splitlines()]  # ends with the db
    finally:
        conn.close()
    results = [line["result"] for line in lines]
    assert all(set(r) <= {"header", "remaining_bytes", "blob"} for r in results)
    assert "remaining_bytes" not in results[-1]  # 0: the last piece
    data = b"".join(base64.b64decode(r["blob"]) for r in results)
    assert len(data) > 4096  # a bbolt file (pages of 4 KiB) and its sha256


def test_observe_stream(backend: Backend, prefix: bytes) -> None:
    """(etcd's gateway sends its headers with the first line: observe a leader there.)"""
    name = b64(prefix + b"election")
    lease = ok(backend, "/v3/lease/grant", {"TTL": 60})["ID"]
    try:
        campaign = {"name": name, "lease": lease, "value": b64(b"me")}
        leader = ok(backend, "/v3/election/campaign", campaign)["leader"]
        assert leader["name"] == name and leader["lease"] == lease
        body = json.dumps({"name": name}).encode()
        conn, resp = open_stream(backend, "/v3/election/observe", body)
        try:
            observed = next_result(resp)
            assert observed["kv"]["key"] == leader["key"]
            assert observed["kv"]["value"] == b64(b"me")
            proclaim = {"leader": leader, "value": b64(b"again")}
            ok(backend, "/v3/election/proclaim", proclaim)
            assert next_result(resp)["kv"]["value"] == b64(b"again")
        finally:
            conn.close()
    finally:
        ok(backend, "/v3/lease/revoke", {"ID": lease})
