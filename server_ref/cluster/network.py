"""Peers in one process (EmbeddedCluster): messages handed from member to member, each
member on its own event loop thread, with the faults a test asks for.

A message is delivered by scheduling it on the receiver's loop, so a paused member
(its loop blocked) gets what was sent to it when it resumes, as a stopped process
reads its socket buffers, and a killed member (detached) gets nothing. Faults are
per link (sender, receiver): a partition cuts the links between groups, a delay holds
messages for a while (order kept), a drop rate loses a share of them, drawn from a
seeded generator so that a run can be replayed.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..raft import Message
from .transport import PeerHandler, PeerRequestError, PeerUnreachableError, Transport


@dataclass(frozen=True)
class _Attached:
    loop: asyncio.AbstractEventLoop
    handler: PeerHandler
    peer_urls: tuple[str, ...]


class InProcessNetwork:
    """The links between the members of one process; thread-safe."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._members: dict[int, _Attached] = {}
        self._groups: list[frozenset[int]] | None = None
        self._delays: dict[tuple[int, int] | None, float] = {}
        self._drops: dict[tuple[int, int] | None, float] = {}
        self._rng = random.Random(seed)

    # ---- members ----

    def attach(
        self,
        member_id: int,
        loop: asyncio.AbstractEventLoop,
        handler: PeerHandler,
        peer_urls: Sequence[str],
    ) -> None:
        with self._lock:
            self._members[member_id] = _Attached(loop, handler, tuple(peer_urls))

    def detach(self, member_id: int) -> None:
        with self._lock:
            self._members.pop(member_id, None)

    def transport(self, member_id: int) -> NetworkTransport:
        return NetworkTransport(self, member_id)

    # ---- faults ----

    def partition(self, groups: Sequence[Iterable[int]]) -> None:
        """Cut every link between members of different groups (a member in no group
        is cut off from all)."""
        with self._lock:
            self._groups = [frozenset(g) for g in groups]

    def heal(self) -> None:
        """Undo partitions, delays and drops."""
        with self._lock:
            self._groups = None
            self._delays.clear()
            self._drops.clear()

    def delay(self, seconds: float, links: Iterable[tuple[int, int]] | None = None) -> None:
        """Hold messages on ``links`` (all when None) for ``seconds`` each."""
        with self._lock:
            for link in [None] if links is None else list(links):
                self._delays[link] = seconds

    def drop(self, rate: float, links: Iterable[tuple[int, int]] | None = None) -> None:
        """Lose a ``rate`` share (0..1) of the messages on ``links`` (all when None)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a drop rate is between 0 and 1, not {rate}")
        with self._lock:
            for link in [None] if links is None else list(links):
                self._drops[link] = rate

    # ---- delivery ----

    def _route(self, sender: int, to: int) -> tuple[_Attached, float] | None:
        """The receiver and the delay, or None when the message is lost."""
        with self._lock:
            target = self._members.get(to)
            if target is None or sender not in self._members:
                return None
            if self._groups is not None and not any(sender in g and to in g for g in self._groups):
                return None
            link = (sender, to)
            rate = self._drops.get(link, self._drops.get(None, 0.0))
            if rate and self._rng.random() < rate:
                return None
            return target, self._delays.get(link, self._delays.get(None, 0.0))

    def deliver(self, sender: int, message: Message) -> None:
        route = self._route(sender, message.to)
        if route is None:
            return
        target, delay = route
        try:
            if delay:
                target.loop.call_soon_threadsafe(
                    target.loop.call_later, delay, target.handler.receive, message
                )
            else:
                target.loop.call_soon_threadsafe(target.handler.receive, message)
        except RuntimeError:
            pass  # its loop closed meanwhile: a member going down loses what is in flight

    async def ask(self, sender: int, to: int, kind: str, body: bytes, timeout: float) -> bytes:
        route = self._route(sender, to)
        if route is None:
            raise PeerUnreachableError(f"member {to:x} cannot be reached")
        target, delay = route
        return await self._ask(target, kind, body, timeout, delay)

    async def ask_url(self, urls: Sequence[str], kind: str, body: bytes, timeout: float) -> bytes:
        """Ask whichever attached member has one of ``urls`` as a peer URL (how a
        member that joins finds the cluster, knowing no member id yet)."""
        with self._lock:
            found = [m for m in self._members.values() if set(m.peer_urls) & set(urls)]
        if not found:
            raise PeerUnreachableError(f"no member answers on {', '.join(urls)}")
        return await self._ask(found[0], kind, body, timeout, 0.0)

    @staticmethod
    async def _ask(
        target: _Attached, kind: str, body: bytes, timeout: float, delay: float
    ) -> bytes:
        async def answered() -> bytes:
            if delay:
                await asyncio.sleep(2 * delay)  # there and back
            return await target.handler.answer(kind, body)

        try:
            future = asyncio.run_coroutine_threadsafe(answered(), target.loop)
        except RuntimeError:
            raise PeerUnreachableError("the member went down") from None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except PeerRequestError:
            raise


class NetworkTransport(Transport):
    """One member's side of an InProcessNetwork."""

    def __init__(self, network: InProcessNetwork, member_id: int) -> None:
        self._network = network
        self._id = member_id

    def send(self, message: Message) -> None:
        self._network.deliver(self._id, message)

    async def request(self, to: int, kind: str, body: bytes, timeout: float) -> bytes:
        return await self._network.ask(self._id, to, kind, body, timeout)

    def set_peers(self, peers: dict[int, tuple[str, ...]]) -> None:
        pass  # every attached member is reachable by its id

    async def start(self) -> None:
        pass  # attached by the cluster, which knows the member's loop

    async def stop(self) -> None:
        self._network.detach(self._id)
