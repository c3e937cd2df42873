"""The peer protocol over TCP on loopback: members exchange Raft messages in order, answer
requests, survive a peer going down and up, refuse another cluster, and stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from etcd3py.server_ref.cluster.errors import (
    PeerRequestError,
    PeerUnreachableError,
    PeerUrlError,
)
from etcd3py.server_ref.cluster.tcp import INTERNAL_ERROR, STREAM_QUEUE, TcpTransport, fetch_from
from etcd3py.server_ref.raft.messages import Entry, Message, MessageType, Snapshot

pytestmark = pytest.mark.anyio

DEADLINE = 10.0
LOOPBACK = "http://127.0.0.1:0"


class Member:
    """A PeerHandler that keeps what it receives and answers a few request kinds."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self.asked: list[str] = []
        self.changed = asyncio.Event()

    def receive(self, message: Message) -> None:
        self.got.append(message)
        self.changed.set()

    async def answer(self, kind: str, body: bytes) -> bytes:
        self.asked.append(kind)
        self.changed.set()
        if kind == "echo":
            return b"echo:" + body
        if kind == "refuse":
            raise PeerRequestError("etcdserver: not leader")
        if kind == "never":
            await asyncio.Event().wait()
        raise RuntimeError(f"a bug answering {kind}")

    def commits_from(self, sender: int) -> list[int]:
        return [m.commit for m in self.got if m.sender == sender]

    async def wait_until(self, done: Callable[[], bool], timeout: float = DEADLINE) -> None:
        async def changes() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(changes(), timeout)


async def until(done: Callable[[], bool], timeout: float = DEADLINE) -> None:
    """Polls ``done`` (a state no event announces) until it holds, within ``timeout``."""

    async def polls() -> None:
        while not done():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(polls(), timeout)


def heartbeat(to: int, sender: int, commit: int) -> Message:
    return Message(MessageType.HEARTBEAT, to=to, sender=sender, term=1, commit=commit)


@contextlib.asynccontextmanager
async def members(
    n: int, cluster_ids: list[int] | None = None, connect: bool = True
) -> AsyncIterator[list[tuple[TcpTransport, Member]]]:
    """``n`` started transports (member ids 1..n) that know each other."""
    out = []
    for i in range(1, n + 1):
        member = Member()
        cluster = cluster_ids[i - 1] if cluster_ids else 0xC1
        out.append((TcpTransport(i, cluster, [LOOPBACK], member), member))
    try:
        for transport, _ in out:
            await transport.start()
        peers = {i: t.bound_urls for i, (t, _) in enumerate(out, 1)}
        for transport, _ in out:
            transport.set_peers(peers)
        if connect:
            for i, (transport, _) in enumerate(out, 1):
                for j in peers:
                    if j != i:
                        await transport.wait_connected(j, DEADLINE)
        yield out
    finally:
        for transport, _ in out:
            await transport.stop()


def dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_three_members_receive_each_others_messages_in_order() -> None:
    async with members(3) as m:
        for round_ in range(300):
            for i, (transport, _) in enumerate(m, 1):
                for j in range(1, 4):
                    if j != i:
                        transport.send(heartbeat(j, i, round_))
        for j, (_, member) in enumerate(m, 1):
            senders = [i for i in range(1, 4) if i != j]
            await member.wait_until(lambda: len(member.got) == 600)  # noqa: B023
            for i in senders:
                assert member.commits_from(i) == list(range(300))
            assert {msg.to for msg in member.got} == {j}


async def test_every_field_of_an_append_crosses_the_wire() -> None:
    async with members(2) as [(a, _), (_, b)]:
        append = Message(
            MessageType.APPEND,
            to=2,
            sender=1,
            term=4,
            log_term=3,
            index=41,
            entries=tuple(Entry(4, 42 + i, bytes([i]) * 256) for i in range(16)),
            commit=40,
            context=b"ctx",
        )
        a.send(append)
        await b.wait_until(lambda: len(b.got) == 1)
        assert b.got == [append]


async def test_a_request_is_answered_and_a_refusal_is_raised_again() -> None:
    async with members(2) as [(a, _), _]:
        assert await a.request(2, "echo", b"lease 7", DEADLINE) == b"echo:lease 7"
        with pytest.raises(PeerRequestError, match=r"^etcdserver: not leader$"):
            await a.request(2, "refuse", b"", DEADLINE)
        with pytest.raises(PeerRequestError, match=re.escape(INTERNAL_ERROR)):
            await a.request(2, "unknown", b"", DEADLINE)
        with pytest.raises(TimeoutError, match=re.escape("did not answer never within 0.2s")):
            await a.request(2, "never", b"", 0.2)
        with pytest.raises(PeerUnreachableError, match="member 9 is not a known peer"):
            await a.request(9, "echo", b"", DEADLINE)
        answers = await asyncio.gather(
            *(a.request(2, "echo", bytes([i]), DEADLINE) for i in range(50))
        )
        assert answers == [b"echo:" + bytes([i]) for i in range(50)]


async def test_a_peer_down_then_up_gets_later_messages_never_reordered() -> None:
    async with members(2) as [(a, _), (b, _)]:
        url = b.bound_urls[0]
        await b.stop()
        sent = 0
        while a.dropped(2) == 0:  # until the outage shows: messages are dropped
            a.send(heartbeat(2, 1, sent))
            sent += 1
            await asyncio.sleep(0.001)
            assert sent < 10_000, "no message was ever dropped while the peer was down"
        again = Member()
        b2 = TcpTransport(2, 0xC1, [url], again)
        await b2.start()
        try:
            b2.set_peers({1: a.bound_urls})
            await a.wait_connected(2, DEADLINE)
            first_after = sent
            for _ in range(200):
                a.send(heartbeat(2, 1, sent))
                sent += 1
            await again.wait_until(lambda: sent - 1 in again.commits_from(1))
            got = again.commits_from(1)
            assert got == sorted(set(got)), "reordered or duplicated"
            assert got[-200:] == list(range(first_after, sent))
        finally:
            await b2.stop()


async def test_a_member_of_another_cluster_is_refused_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "etcd3py.server_ref")
    async with members(2, cluster_ids=[0xC1, 0xC2], connect=False) as [(a, _), (_, b)]:
        a.send(heartbeat(2, 1, 1))
        await until(lambda: "cluster ID mismatch" in caplog.text)
        with pytest.raises(TimeoutError):
            await a.wait_connected(2, 0.3)
        assert b.got == []
        refusals = [r for r in caplog.records if "refused a peer connection" in r.getMessage()]
        assert "this member is in cluster c2, the sender 1 in c1" in refusals[0].getMessage()
        assert any("peer 2 unreachable" in r.getMessage() for r in caplog.records)


async def test_a_full_queue_drops_what_does_not_fit_and_keeps_the_rest_in_order() -> None:
    a_member, b_member = Member(), Member()
    a = TcpTransport(1, 0xC1, [LOOPBACK], a_member)
    b = TcpTransport(2, 0xC1, [LOOPBACK], b_member)
    try:
        await b.start()
        a.set_peers({2: b.bound_urls})  # not started: nothing is sent yet
        for i in range(STREAM_QUEUE + 100):
            a.send(heartbeat(2, 1, i))
        assert a.dropped(2) == 100
        await a.start()
        await b_member.wait_until(lambda: len(b_member.got) == STREAM_QUEUE)
        assert b_member.commits_from(1) == list(range(STREAM_QUEUE))
    finally:
        await a.stop()
        await b.stop()


async def test_a_big_snapshot_travels_apart_and_arrives_whole() -> None:
    async with members(2) as [(a, _), (_, b)]:
        data = bytes(range(256)) * (128 * 1024)  # 32 MiB
        snapshot = Message(
            MessageType.SNAPSHOT,
            to=2,
            sender=1,
            term=2,
            snapshot=Snapshot(100, 2, frozenset({1, 2}), data, frozenset({3})),
        )
        a.send(snapshot)
        for i in range(100):
            a.send(heartbeat(2, 1, i))
        await b.wait_until(lambda: len(b.got) == 101, timeout=30)
        assert [m.commit for m in b.got if m.type is MessageType.HEARTBEAT] == list(range(100))
        assert [m for m in b.got if m.type is MessageType.SNAPSHOT] == [snapshot]


async def test_stop_ends_every_task_and_fails_waiting_requests() -> None:
    before = asyncio.all_tasks()
    async with members(3) as m:
        a = m[0][0]
        a.send(Message(MessageType.SNAPSHOT, to=2, sender=1, snapshot=Snapshot(1, 1)))
        await m[1][1].wait_until(lambda: len(m[1][1].got) == 1)
        waiting = asyncio.create_task(a.request(3, "never", b"", DEADLINE))
        await m[2][1].wait_until(lambda: m[2][1].asked == ["never"])
        await a.stop()
        with pytest.raises(PeerUnreachableError, match="transport stopped"):
            await waiting
    assert asyncio.all_tasks() == before


async def test_set_peers_replaces_a_moved_peer_and_forgets_a_removed_one() -> None:
    async with members(3) as [(a, _), (b, b_member), (_, c_member)]:
        a.set_peers({2: b.bound_urls})  # 3 removed
        a.send(heartbeat(3, 1, 1))
        assert a.dropped(3) == 0  # unknown now: not even counted
        with pytest.raises(PeerUnreachableError, match="not a known peer"):
            await a.request(3, "echo", b"", DEADLINE)
        a.send(heartbeat(2, 1, 7))
        await b_member.wait_until(lambda: b_member.commits_from(1) == [7])
        assert c_member.got == []


async def test_fetch_from_skips_a_dead_url() -> None:
    async with members(1) as [(a, _)]:
        live = a.bound_urls[0]
        assert await fetch_from([dead_url(), live], "echo", b"members?", DEADLINE) == (
            b"echo:members?"
        )
        with pytest.raises(PeerRequestError, match="not leader"):
            await fetch_from([live], "refuse", b"", DEADLINE)
        with pytest.raises(
            PeerUnreachableError, match=re.escape("cannot connect to http://127.0.0.1")
        ):
            await fetch_from([dead_url()], "echo", b"", DEADLINE)
        with pytest.raises(PeerUnreachableError, match="cluster ID mismatch"):
            await fetch_from([live], "echo", b"", DEADLINE, cluster_id=0xBAD)
        with pytest.raises(TimeoutError, match=re.escape("no peer answered never within 0.2s")):
            await fetch_from([live], "never", b"", 0.2)


def test_https_and_malformed_peer_urls_are_refused_naming_the_url() -> None:
    with pytest.raises(PeerUrlError, match=r"https://10.0.0.1:2380: https \(peer TLS\)"):
        TcpTransport(1, 1, ["https://10.0.0.1:2380"], Member())
    transport = TcpTransport(1, 1, [LOOPBACK], Member())
    with pytest.raises(
        PeerUrlError, match=re.escape("peer URL 10.0.0.1:2380: expected http://host:port")
    ):
        transport.set_peers({2: ("10.0.0.1:2380",)})
    with pytest.raises(PeerUrlError, match=re.escape("expected http://host:port")):
        transport.set_peers({2: ("http://10.0.0.1",)})
