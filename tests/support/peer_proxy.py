"""TCP proxies for network faults against real processes: cut connections, partition
members, delay traffic.

A ``ProxyHub`` runs every proxy on one asyncio loop in its own thread; the test thread
drives them through calls bounded by ``CONTROL_TIMEOUT``. A ``TcpProxy`` listens on a
port of its own and forwards each connection to its upstream (``retarget`` changes the
upstream for later connections). ``cut()`` resets every live connection (RST, not FIN):
what a client sees when a network path dies.

Between etcd members a proxy sits in front of each member's peer listener, and the
member advertises the proxy's URL, so every peer connection into member *i* goes
through proxy *i*. etcd's rafthttp names the dialing member in the ``X-Server-From``
header of every request it makes (stream GETs, pipeline and snapshot POSTs), so a proxy
that reads the first request's head knows which two members a connection links.
``PeerLinks`` holds the faults per pair of members: a partition cuts the pair's live
connections and refuses new ones, both ways (a stream GET from A to B carries B's
messages to A, so a link is a pair, not a direction); a delay holds every chunk on the
pair's connections that long. A connection with no ``X-Server-From`` (etcd's prober,
a joining member asking for the member list) counts as coming from no member: it is
refused only when its target is cut off from every other member.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")
CONTROL_TIMEOUT = 10.0  # seconds a call from the test thread may wait for the proxy loop
CONNECT_TIMEOUT = 5.0  # seconds to reach the upstream
HEAD_TIMEOUT = 5.0  # seconds a peer connection may take to send its request's head
CHUNK = 64 * 1024
SENDER_HEADER = b"x-server-from"

Pair = frozenset[int]  # two member slots


class ProxyHub:
    """The event loop (one thread) all proxies run on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="etcd3py-test-proxies", daemon=True
        )
        self._thread.start()
        self.proxies: list[TcpProxy] = []

    def call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CONTROL_TIMEOUT)

    def run(self, fn: Callable[[], _T]) -> _T:
        async def wrapped() -> _T:
            return fn()

        return self.call(wrapped())

    def proxy(
        self, upstream: tuple[str, int], links: PeerLinks | None = None, slot: int = -1
    ) -> TcpProxy:
        """A proxy to ``upstream`` on a free loopback port; with ``links``, a peer proxy
        in front of member slot ``slot``."""
        proxy = TcpProxy(self, upstream, links, slot)
        self.call(proxy._listen())
        self.proxies.append(proxy)
        return proxy

    def close(self) -> None:
        for proxy in self.proxies:
            with contextlib.suppress(Exception):
                self.call(proxy._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CONTROL_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


class _Connection:
    """One proxied connection: the two transports and the member that dialed it (its
    ``X-Server-From``; read as a slot only when a fault asks, since ids are learnt
    after the members start)."""

    def __init__(self) -> None:
        self.sender: str | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):  # linger 0: close sends RST
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class TcpProxy:
    """Forwards connections from ``port`` to ``upstream``; see the module docstring."""

    def __init__(
        self, hub: ProxyHub, upstream: tuple[str, int], links: PeerLinks | None, slot: int
    ) -> None:
        self._hub = hub
        self.upstream = upstream
        self._links = links
        self.slot = slot
        self.port = 0
        self._server: asyncio.Server | None = None
        self._live: set[_Connection] = set()
        self.accepted = 0
        self.refused = 0
        self.upstream_failures = 0  # connections reset because the upstream was not reached
        self.last_upstream_error = ""

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def retarget(self, upstream: tuple[str, int]) -> None:
        """Later connections go to ``upstream`` (live ones stay where they are)."""
        self.upstream = upstream

    def cut(self) -> int:
        """Reset every live connection; return how many there were."""
        return self._hub.run(lambda: self._reset(lambda conn: True))

    def live(self) -> int:
        return self._hub.run(lambda: len(self._live))

    def report(self) -> str:
        """What the proxy has done, for a failure's report."""
        text = (
            f"proxy {self.endpoint} -> {self.upstream[0]}:{self.upstream[1]}: "
            f"{self.live()} live, {self.accepted} accepted, {self.refused} refused, "
            f"{self.upstream_failures} upstream failures"
        )
        return text + (f" (last: {self.last_upstream_error})" if self.last_upstream_error else "")

    def _reset(self, which: Callable[[_Connection], bool]) -> int:
        doomed = [conn for conn in self._live if which(conn)]
        for conn in doomed:
            conn.reset()
            self._live.discard(conn)
        return len(doomed)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        self._reset(lambda conn: True)
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b""
        conn = _Connection()
        conn.writers.append(writer)
        links = self._links
        try:
            if links is not None:
                head = await asyncio.wait_for(_read_head(reader), HEAD_TIMEOUT)
                conn.sender = _sender(head)
                if self._refused(conn):
                    self.refused += 1
                    conn.reset()
                    return
        except (
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            conn.reset()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError) as err:
            self.upstream_failures += 1
            self.last_upstream_error = f"{type(err).__name__}: {err}"
            conn.reset()
            return
        conn.writers.append(up_writer)
        if self._refused(conn):
            self.refused += 1  # cut while the upstream was being reached
            conn.reset()
            return
        self.accepted += 1
        self._live.add(conn)
        up_writer.write(head)

        def delay() -> float:
            return 0.0 if links is None else links.delay_of(links.pair(conn.sender, self.slot))

        conn.tasks = [
            asyncio.create_task(_pump(reader, up_writer, delay)),
            asyncio.create_task(_pump(up_reader, writer, delay)),
        ]
        try:
            await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in conn.tasks:
                task.cancel()
            for w in conn.writers:
                w.close()
            self._live.discard(conn)

    def _refused(self, conn: _Connection) -> bool:
        """Whether the faults now forbid this connection's link."""
        links = self._links
        return links is not None and links.refused(links.pair(conn.sender, self.slot), self.slot)

    def _drop_refused(self) -> int:
        return self._reset(self._refused)


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The first request's head (a longer one than the reader's 64 KiB limit raises
    LimitOverrunError: no peer sends one)."""
    return await reader.readuntil(b"\r\n\r\n")


def _sender(head: bytes) -> str | None:
    """The ``X-Server-From`` member id (hex) in a request head, if any."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == SENDER_HEADER:
            return value.strip().decode("ascii", "replace").lower()
    return None


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Callable[[], float]
) -> None:
    """Copy ``reader`` to ``writer`` until EOF, each chunk held ``delay()`` seconds
    (in order: a chunk waits for the ones before it)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                return
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # the injected delay itself
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay(), data))
            if not data:
                break
        await sender
    except (OSError, ConnectionError):
        pass
    finally:
        sender.cancel()


class PeerLinks:
    """The faults between member slots, and which member id sits in which slot."""

    def __init__(self, hub: ProxyHub) -> None:
        self._hub = hub
        self._slots: dict[str, int] = {}  # member id (hex) -> slot
        self._cut: set[Pair] = set()
        self._isolated: set[int] = set()
        self._delay: dict[Pair, float] = {}
        self.proxies: list[TcpProxy] = []

    def add(self, upstream: tuple[str, int]) -> TcpProxy:
        """A peer proxy for the next slot, in front of a member's peer listener."""
        proxy = self._hub.proxy(upstream, self, len(self.proxies))
        self.proxies.append(proxy)
        return proxy

    def learn(self, ids: dict[int, int]) -> None:
        """Member ids by slot (a replaced member gets a new id in its old slot)."""
        slots = {f"{member_id:x}": slot for slot, member_id in ids.items()}
        self._hub.run(lambda: self._slots.update(slots))

    # -- read on the proxy loop --

    def pair(self, sender: str | None, slot: int) -> Pair | None:
        if sender is None or sender not in self._slots:
            return None
        return frozenset((self._slots[sender], slot))

    def refused(self, pair: Pair | None, slot: int) -> bool:
        if pair is None:
            return slot in self._isolated
        return pair in self._cut

    def delay_of(self, pair: Pair | None) -> float:
        return 0.0 if pair is None else self._delay.get(pair, 0.0)

    # -- faults, from the test thread --

    def _pairs(self, slots: list[int] | None = None) -> list[Pair]:
        every = range(len(self.proxies))
        chosen = every if slots is None else slots
        return [frozenset((a, b)) for a in chosen for b in every if a != b]

    def isolate(self, slot: int) -> int:
        """Cut member ``slot`` off from every other member, both ways; return how many
        live connections were reset."""

        def apply() -> int:
            self._isolated.add(slot)
            self._cut.update(self._pairs([slot]))
            return sum(p._drop_refused() for p in self.proxies)

        return self._hub.run(apply)

    def cut(self, a: int, b: int) -> int:
        """Cut the one link between members ``a`` and ``b`` (both ways); each keeps its
        other links: a partition that is not transitive. Return how many live
        connections were reset."""

        def apply() -> int:
            self._cut.add(frozenset((a, b)))
            return sum(p._drop_refused() for p in self.proxies)

        return self._hub.run(apply)

    def delay(self, seconds: float, slots: list[int] | None = None) -> None:
        """Hold every chunk between the members given (default: all) ``seconds``."""
        pairs = self._pairs(slots)
        self._hub.run(lambda: self._delay.update(dict.fromkeys(pairs, seconds)))

    def heal(self) -> None:
        """No more cuts or delays (connections reset stay reset: etcd dials again)."""

        def apply() -> None:
            self._cut.clear()
            self._isolated.clear()
            self._delay.clear()

        self._hub.run(apply)
