"""The TCP proxies the network failpoints use (tests/support/peer_proxy.py): a cut
resets live connections, and between real etcd 3.5.1 members a partition isolates a
member both ways, a cut link separates two members only, a delay slows the links, a
heal undoes them."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from etcd3py import Client
from tests.support.clusters import status
from tests.support.peer_proxy import PeerLinks, ProxyHub
from tests.support.servers import EtcdCluster

DEADLINE = 20.0  # seconds an election, a step-down or a catch-up may take


def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> float:
    """Poll ``condition`` under a deadline; return the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what} not within {timeout}s"
        time.sleep(0.05)  # polling the members' state under a deadline
    return time.monotonic() - start


@pytest.fixture
def hub() -> Iterator[ProxyHub]:
    proxies = ProxyHub()
    yield proxies
    proxies.close()


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A TCP server that sends back what it reads (the proxy's upstream)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    halt = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(ConnectionResetError):  # a cut resets it
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while not halt.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[:2]
    halt.set()
    thread.join(5)
    server.close()


def test_cut_resets_live_connections_and_later_ones_pass(
    hub: ProxyHub, echo: tuple[str, int]
) -> None:
    proxy = hub.proxy(echo)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as conn:
        conn.sendall(b"ping")
        assert conn.recv(16) == b"ping"
        assert proxy.cut() == 1
        with pytest.raises(ConnectionResetError):
            conn.sendall(b"again")
            if not conn.recv(16):
                raise ConnectionResetError("closed")  # a FIN, not a reset, also ends it
    assert proxy.live() == 0
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as conn:
        conn.sendall(b"pong")
        assert conn.recv(16) == b"pong"


def test_an_unreachable_upstream_resets_the_client_and_is_counted(hub: ProxyHub) -> None:
    """A member whose port is closed shows to a client as a reset connection; the
    proxy's report says why, for a failure report to tell the two apart."""
    # bound, never listening: connections are refused, and the port stays taken (a
    # port merely closed could become the proxy's own, which would then dial itself)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        proxy = hub.proxy(closed.getsockname()[:2])
        answer = b""
        # the reset can come before connect() returns (the proxy is that quick), or
        # at the send or the read: never an answer
        with (
            contextlib.suppress(ConnectionResetError, BrokenPipeError),
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as conn,
        ):
            conn.sendall(b"ping")
            answer = conn.recv(16)
        assert answer == b""
        until(lambda: proxy.upstream_failures == 1, "the failure counted", 5)
    assert "ConnectionRefusedError" in proxy.last_upstream_error
    assert "1 upstream failures" in proxy.report()
    assert proxy.accepted == 0


@pytest.fixture
def proxied(tmp_path: Path, hub: ProxyHub) -> Iterator[tuple[EtcdCluster, PeerLinks, list[int]]]:
    """Three etcd members that reach each other only through peer proxies."""
    links = PeerLinks(hub)
    cluster = EtcdCluster(tmp_path, 3, peer_proxy=lambda port: links.add(("127.0.0.1", port)).url)
    cluster.start()
    try:
        ids = [status(m.endpoint).header.member_id for m in cluster.members]
        links.learn(dict(enumerate(ids)))
        yield cluster, links, ids
    finally:
        cluster.stop()


def leaders(cluster: EtcdCluster) -> list[int]:
    return [status(m.endpoint).leader for m in cluster.members]


def test_partitioned_leader_steps_down_and_heal_rejoins(
    proxied: tuple[EtcdCluster, PeerLinks, list[int]],
) -> None:
    cluster, links, ids = proxied
    old = ids.index(cluster.wait_leader())
    others = [i for i in range(3) if i != old]
    assert links.isolate(old) > 0  # its live peer connections were reset
    until(lambda: status(cluster.members[old].endpoint).leader != ids[old], "step-down")

    def others_agree() -> bool:
        seen = leaders(cluster)
        return seen[others[0]] == seen[others[1]] and seen[others[0]] in {ids[i] for i in others}

    until(others_agree, "a new leader among the others")
    assert status(cluster.members[old].endpoint).leader not in {ids[i] for i in others}
    links.heal()
    until(lambda: len(set(leaders(cluster))) == 1, "one leader for all after the heal")


def test_partitioned_follower_stops_receiving_until_healed(
    proxied: tuple[EtcdCluster, PeerLinks, list[int]],
) -> None:
    cluster, links, ids = proxied
    leader = ids.index(cluster.wait_leader())
    follower = next(i for i in range(3) if i != leader)
    links.isolate(follower)
    with Client(cluster.members[leader].endpoint, timeout=10) as client:
        written = client.put(b"/proxy/k", b"v").header.revision
        behind = status(cluster.members[follower].endpoint)
        assert behind.header.revision < written
        links.heal()
        until(
            lambda: status(cluster.members[follower].endpoint).header.revision >= written,
            "the follower catching up",
        )


def test_delay_slows_every_write_until_healed(
    proxied: tuple[EtcdCluster, PeerLinks, list[int]],
) -> None:
    cluster, links, ids = proxied
    leader = ids.index(cluster.wait_leader())
    with Client(cluster.members[leader].endpoint, timeout=20) as client:

        def put_seconds() -> float:
            start = time.monotonic()
            client.put(b"/proxy/d", b"v")
            return time.monotonic() - start

        links.delay(0.4)
        assert put_seconds() >= 0.4  # a commit needs a follower's answer: one link each way
        links.heal()
        until(lambda: put_seconds() < 0.2, "writes fast again")


def test_one_cut_link_leaves_the_leader_and_starves_only_that_follower(
    proxied: tuple[EtcdCluster, PeerLinks, list[int]],
) -> None:
    cluster, links, ids = proxied
    leader = ids.index(cluster.wait_leader())
    cut, other = (i for i in range(3) if i != leader)
    links.cut(leader, cut)
    with Client(cluster.members[leader].endpoint, timeout=10) as client:
        for _ in range(5):
            written = client.put(b"/proxy/l", b"v").header.revision  # a quorum without it
        until(
            lambda: status(cluster.members[other].endpoint).header.revision >= written,
            "the linked follower applying the writes",
        )
        assert status(cluster.members[cut].endpoint).header.revision < written
        links.heal()
        until(
            lambda: status(cluster.members[cut].endpoint).header.revision >= written,
            "the cut follower catching up",
        )
