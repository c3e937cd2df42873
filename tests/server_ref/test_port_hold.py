"""A killed embedded member keeps its client port until it restarts: nobody else can
bind it (nor can the kernel hand it to an outgoing connection or a port-0 bind), a
client is refused as by a dead process, and the restart serves on it again."""

from __future__ import annotations

import errno
import socket

import pytest

from etcd3py import Client
from etcd3py.server_ref import EmbeddedCluster, EmbeddedServer


def assert_held(port: int) -> None:
    """Not even a listener that sets SO_REUSEADDR (as etcd's and gRPC's do) can take
    the port; a free port would let it, whatever was left in TIME_WAIT."""
    with socket.socket() as other, pytest.raises(OSError) as err:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", port))
        other.listen()
    assert err.value.errno == errno.EADDRINUSE
    assert_refused(port)


def assert_refused(port: int) -> None:
    with socket.socket() as client, pytest.raises(ConnectionRefusedError):
        client.settimeout(5)
        client.connect(("127.0.0.1", port))


def assert_free(port: int) -> None:
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", port))


def test_a_killed_server_keeps_its_port_until_revived() -> None:
    with EmbeddedServer() as server:
        port = server.port
        server.kill()
        assert_held(port)
        server.revive()
        assert server.port == port
        with Client(server.endpoint) as client:
            client.put("k", "1")
            server.kill()  # with the client's connection left in TIME_WAIT
            assert_refused(port)
            server.revive()
            assert client.get("k").value == b"1"
        server.kill()
    assert_free(port)  # stop() lets go of a killed server's port


def test_a_killed_cluster_member_keeps_its_port_until_restarted() -> None:
    with EmbeddedCluster(members=3) as cluster:
        port = int(cluster.members[0].endpoint.rsplit(":", 1)[1])
        cluster.kill_member(0)
        assert_held(port)
        cluster.restart_member(0)
        with Client(cluster.members[0].endpoint) as client:
            client.put("k", "1", timeout=10)
        cluster.kill_member(0)
    assert_free(port)


def test_a_replaced_member_serves_on_the_port_it_held() -> None:
    with EmbeddedCluster(members=3) as cluster:
        port = int(cluster.members[1].endpoint.rsplit(":", 1)[1])
        new = cluster.replace_member(1)
        assert new.endpoint.endswith(f":{port}")
        with Client(new.endpoint) as client:
            assert client.status(timeout=10).header.member_id == new.id
