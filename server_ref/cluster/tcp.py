"""The peer protocol over TCP on the peer URLs (http://host:port; no peer TLS).

A member dials each peer once for its Raft messages and requests (the STREAM channel: one
writer, so messages to a peer keep their order; the peer answers requests on the same
connection, matched by request id), and once more, when it first has one to send, for
snapshots (the SNAPSHOT channel, as etcd does, so a snapshot of many megabytes delays no
heartbeat). A connection opens with a hello naming the sender, the member it wants and
the cluster: a connection from another cluster, or for another member, is refused and
logged, as etcd refuses a mismatched cluster ID.

Messages queue per peer up to etcd's stream buffer (4096) and are dropped beyond it, and
while the peer is unreachable: Raft retries on its own, and dropping (never holding
messages back for later) is what keeps them in order. A lost connection is dialled again
with capped exponential backoff. A new connection from a sender replaces its previous one
on the same channel, so a sender's messages never arrive out of order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from ..raft.messages import Message, MessageType
from .codec import (
    FRAME_HEADER,
    MAX_FRAME,
    Channel,
    FrameKind,
    Hello,
    decode_answer,
    decode_hello,
    decode_message,
    decode_request,
    decode_welcome,
    encode_answer,
    encode_hello,
    encode_message,
    encode_request,
    encode_welcome,
    frame,
    frame_kind,
)
from .errors import (
    PeerError,
    PeerProtocolError,
    PeerRequestError,
    PeerUnreachableError,
    PeerUrlError,
)
from .transport import PeerHandler

log = logging.getLogger("etcd3py.server_ref")

STREAM_QUEUE = 4096  # etcd's streamBufSize: messages waiting for one peer
SNAPSHOT_QUEUE = 2  # snapshots waiting for one peer, besides the one being written
HANDSHAKE_TIMEOUT = 2.0  # seconds to connect and be welcomed, or to say hello
HANDSHAKE_LIMIT = 1024  # bytes a frame may have before the hello is accepted
BACKOFF_BASE, BACKOFF_MAX = 0.02, 0.5  # seconds between dials to a peer that is down
INTERNAL_ERROR = "etcd3py server_ref: internal error"


def backoff(failures: int) -> float:
    """Seconds to wait before dialling again after ``failures`` failed dials in a row."""
    return min(BACKOFF_MAX, BACKOFF_BASE * float(2 ** min(failures, 16)))


def parse_peer_url(url: str) -> tuple[str, int]:
    """(host, port) of an http://host:port peer URL; anything else is a PeerUrlError."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        raise PeerUrlError(
            f"peer URL {url}: https (peer TLS) is not supported by server_ref; use http://"
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise PeerUrlError(f"peer URL {url}: expected http://host:port")
    return parts.hostname, port


def _hex(member_id: int) -> str:
    return f"{member_id:x}"  # as etcd writes member and cluster ids


async def _read_frame(reader: asyncio.StreamReader, limit: int) -> tuple[FrameKind, bytes]:
    length, code = FRAME_HEADER.unpack(await reader.readexactly(FRAME_HEADER.size))
    kind = frame_kind(code)
    if length > limit:
        raise PeerProtocolError(f"{kind.name} frame of {length} bytes (at most {limit} here)")
    return kind, await reader.readexactly(length)


async def _dial(
    url: str, hello: Hello, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``url`` that welcomed ``hello``; PeerUnreachableError otherwise."""
    host, port = parse_peer_url(url)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        raise PeerUnreachableError(f"cannot connect to {url}: {e!r}") from None
    try:
        writer.write(encode_hello(hello))
        kind, payload = await asyncio.wait_for(_read_frame(reader, HANDSHAKE_LIMIT), timeout)
        if kind is FrameKind.REFUSE:
            raise PeerUnreachableError(f"{url} refused the connection: {payload.decode()}")
        if kind is not FrameKind.WELCOME:
            raise PeerProtocolError(f"{kind.name} frame instead of a welcome")
        member_id, cluster_id = decode_welcome(payload)
        if hello.to and member_id != hello.to:
            raise PeerUnreachableError(f"{url} is member {_hex(member_id)}, not {_hex(hello.to)}")
        if hello.cluster_id and cluster_id != hello.cluster_id:
            raise PeerUnreachableError(
                f"{url} is in cluster {_hex(cluster_id)}, not {_hex(hello.cluster_id)}"
            )
    except BaseException as e:
        writer.close()
        if isinstance(e, PeerUnreachableError | asyncio.CancelledError):
            raise
        if isinstance(e, OSError | EOFError | asyncio.TimeoutError | PeerError | UnicodeError):
            raise PeerUnreachableError(f"no welcome from {url}: {e!r}") from None
        raise
    return reader, writer


class _Link:
    """One outbound connection to a peer, for one channel: its queue, its writer, and the
    requests waiting for an answer on it."""

    def __init__(self, owner: TcpTransport, peer: int, urls: tuple[str, ...], channel: Channel):
        self.owner, self.peer, self.urls, self.channel = owner, peer, urls, channel
        self.capacity = STREAM_QUEUE if channel is Channel.STREAM else SNAPSHOT_QUEUE
        self.queue: collections.deque[Message] = collections.deque()
        self.requests: collections.deque[bytes] = collections.deque()  # encoded frames
        self.pending: dict[int, asyncio.Future[tuple[FrameKind, bytes]]] = {}
        self.accepting = True  # dialling or connected: what is sent now may get through
        self.wakeup = asyncio.Event()
        self.connected = asyncio.Event()
        self.dropped = 0
        self.task: asyncio.Task[None] | None = None
        self._last_warning = ""

    def start(self) -> None:
        if self.task is None:
            name = f"peer-{_hex(self.peer)}-{self.channel.name.lower()}"
            self.task = asyncio.create_task(self._run(), name=name)

    def send(self, message: Message) -> None:
        if not self.accepting or len(self.queue) >= self.capacity:
            self.dropped += 1
            return
        self.queue.append(message)
        self.wakeup.set()

    def ask(
        self, request_id: int, kind: str, body: bytes
    ) -> asyncio.Future[tuple[FrameKind, bytes]]:
        if not self.accepting:
            raise PeerUnreachableError(f"member {_hex(self.peer)} is unreachable")
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        self.requests.append(encode_request(request_id, kind, body))
        self.wakeup.set()
        return future

    def down(self, why: str) -> None:
        """Drop what waits: messages are lost, requests fail (none will be answered here)."""
        self.accepting = False
        self.connected.clear()
        self.dropped += len(self.queue)
        self.queue.clear()
        self.requests.clear()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(PeerUnreachableError(f"member {_hex(self.peer)}: {why}"))
        self.pending.clear()

    async def _run(self) -> None:
        hello = Hello(self.channel, self.owner.member_id, self.peer, self.owner.cluster_id)
        failures = 0
        try:
            for url in itertools.cycle(self.urls):
                if self.owner.stopping:
                    return  # a cancel that Python 3.11's wait_for swallowed ends here
                self.accepting = True
                try:
                    reader, writer = await _dial(url, hello, HANDSHAKE_TIMEOUT)
                except PeerUnreachableError as e:
                    self._fail(str(e))
                    await asyncio.sleep(backoff(failures))
                    failures += 1
                    continue
                failures = 0
                self.connected.set()
                log.debug(
                    "connected to peer %s at %s (%s)", _hex(self.peer), url, self.channel.name
                )
                try:
                    await self._pump(reader, writer)
                except (OSError, EOFError, PeerError) as e:
                    self._fail(f"connection to {url} lost: {e!r}")
                finally:
                    writer.close()
                await asyncio.sleep(backoff(0))
        finally:
            self.down("transport stopped" if self.owner.stopping else "link closed")

    def _fail(self, why: str) -> None:
        self.down(why)
        if why != self._last_warning:  # once per reason, not once per dial
            self._last_warning = why
            log.warning("peer %s unreachable: %s", _hex(self.peer), why)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Write until the connection fails; its reader resolves answers meanwhile."""
        self._last_warning = ""
        answers = asyncio.create_task(self._read_answers(reader))
        writes = asyncio.create_task(self._write(writer))
        try:
            done, _ = await asyncio.wait((answers, writes), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises why it ended
            raise PeerUnreachableError("closed by the peer")
        finally:
            for task in (answers, writes):
                task.cancel()
            await asyncio.gather(answers, writes, return_exceptions=True)

    async def _write(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            parts = list(self.requests)
            self.requests.clear()
            while self.queue:
                message = self.queue.popleft()
                try:
                    parts.append(frame(FrameKind.MESSAGE, encode_message(message)))
                except PeerProtocolError:
                    log.exception("dropped a %s message to %s", message.type.value, _hex(self.peer))
            writer.write(b"".join(parts))
            await writer.drain()

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        while True:
            kind, payload = await _read_frame(reader, MAX_FRAME)
            if kind not in (FrameKind.ANSWER, FrameKind.FAILED):
                raise PeerProtocolError(f"{kind.name} frame from the member dialled")
            request_id, body = decode_answer(payload)
            future = self.pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result((kind, body))


class TcpTransport:
    """`Transport` over TCP: listens on ``listen_urls`` for its peers, dials each peer at
    the URLs `set_peers` gives. ``cluster_id`` must be the same on every member."""

    def __init__(
        self,
        member_id: int,
        cluster_id: int,
        listen_urls: Sequence[str],
        handler: PeerHandler,
    ) -> None:
        if not member_id or not cluster_id:
            raise ValueError("member and cluster ids must not be 0")
        self.member_id, self.cluster_id, self.handler = member_id, cluster_id, handler
        self.listen = [parse_peer_url(url) for url in listen_urls]
        self.stopping = False
        self._servers: list[asyncio.Server] = []
        self._links: dict[int, tuple[_Link, _Link]] = {}  # peer -> (stream, snapshot)
        self._peer_urls: dict[int, tuple[str, ...]] = {}
        self._started = False
        self._request_ids = itertools.count(1)
        self._serving: set[asyncio.Task[None]] = set()  # inbound connections
        self._latest: dict[tuple[int, Channel], asyncio.Task[None]] = {}
        self._retired: set[asyncio.Task[None]] = set()  # links of removed peers, ending

    # ---- the Transport interface ---------------------------------------------------

    def send(self, message: Message) -> None:
        links = self._links.get(message.to)
        if links is None:
            log.debug(
                "dropped a %s message to unknown peer %s", message.type.value, _hex(message.to)
            )
            return
        stream, snapshots = links
        if message.type is MessageType.SNAPSHOT:
            if self._started:
                snapshots.start()  # dialled when first needed
            snapshots.send(message)
        else:
            stream.send(message)

    async def request(self, to: int, kind: str, body: bytes, timeout: float) -> bytes:
        links = self._links.get(to)
        if links is None:
            raise PeerUnreachableError(f"member {_hex(to)} is not a known peer")
        request_id = next(self._request_ids)
        stream = links[0]
        future = stream.ask(request_id, kind, body)
        try:
            answered, answer = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"member {_hex(to)} did not answer {kind} within {timeout}s"
            ) from None
        finally:
            stream.pending.pop(request_id, None)
        if answered is FrameKind.FAILED:
            raise PeerRequestError(answer.decode(errors="replace"))
        return answer

    def set_peers(self, peers: dict[int, tuple[str, ...]]) -> None:
        wanted = {p: tuple(urls) for p, urls in peers.items() if p != self.member_id}
        for urls in wanted.values():
            for url in urls:
                parse_peer_url(url)
        for peer in list(self._links):
            if self._peer_urls[peer] != wanted.get(peer):
                self._retire(peer)
        for peer, urls in wanted.items():
            if peer not in self._links:
                if not urls:
                    raise PeerUrlError(f"member {_hex(peer)} has no peer URL")
                self._peer_urls[peer] = urls
                links = (
                    _Link(self, peer, urls, Channel.STREAM),
                    _Link(self, peer, urls, Channel.SNAPSHOT),
                )
                self._links[peer] = links
                if self._started:
                    links[0].start()

    async def start(self) -> None:
        for host, port in self.listen:
            server = await asyncio.start_server(self._accept, host, port)
            self._servers.append(server)
        self._started = True
        for stream, snapshots in self._links.values():
            stream.start()
            if snapshots.queue:
                snapshots.start()

    async def stop(self) -> None:
        self.stopping = True
        for server in self._servers:
            server.close()
        tasks = [*self._retired, *self._serving]
        for links in self._links.values():
            tasks.extend(link.task for link in links if link.task is not None)
        pending = set(tasks)
        while pending:  # cancel until they end: Python 3.11's wait_for can swallow a cancel
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)
        await asyncio.gather(*tasks, return_exceptions=True)  # collect what they ended with
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._links.clear()
        self._peer_urls.clear()

    # ---- beyond the interface ------------------------------------------------------

    @property
    def bound_urls(self) -> tuple[str, ...]:
        """The URLs listened on, with the ports the system chose for port 0."""
        urls = []
        for server in self._servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                urls.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
        return tuple(urls)

    async def wait_connected(self, to: int, timeout: float) -> None:
        """Until the connection for messages to member ``to`` is up (TimeoutError after
        ``timeout`` seconds)."""
        links = self._links.get(to)
        if links is None:
            raise PeerUnreachableError(f"member {_hex(to)} is not a known peer")
        try:
            await asyncio.wait_for(links[0].connected.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no connection to member {_hex(to)} within {timeout}s") from None

    def dropped(self, to: int) -> int:
        """Messages to member ``to`` dropped so far (queue full, or the peer unreachable)."""
        links = self._links.get(to)
        return sum(link.dropped for link in links) if links else 0

    # ---- inside ----------------------------------------------------------------------

    def _retire(self, peer: int) -> None:
        for link in self._links.pop(peer):
            link.down("removed from the peers")
            if link.task is not None:
                link.task.cancel()
                self._retired.add(link.task)
                link.task.add_done_callback(self._retired.discard)
        del self._peer_urls[peer]

    def _refusal(self, hello: Hello) -> str:
        """Why a connection saying ``hello`` is refused, or "" to accept it."""
        fetching = hello.channel is Channel.REQUEST and hello.cluster_id == 0
        if hello.cluster_id != self.cluster_id and not fetching:
            return (
                f"cluster ID mismatch: this member is in cluster {_hex(self.cluster_id)},"
                f" the sender {_hex(hello.sender)} in {_hex(hello.cluster_id)}"
            )
        if hello.to and hello.to != self.member_id:
            return f"this is member {_hex(self.member_id)}, not {_hex(hello.to)}"
        if hello.channel is not Channel.REQUEST and not hello.sender:
            return f"a {hello.channel.name} connection from no member"
        return ""

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A new inbound connection, served by a task of ours: asyncio's own connection
        task would report our cancelling it (stop, or a newer connection) as an error."""
        if self.stopping:
            writer.close()
            return
        task = asyncio.create_task(self._serve(reader, writer), name="peer-inbound")
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        where = writer.get_extra_info("peername")
        try:
            try:
                kind, payload = await asyncio.wait_for(
                    _read_frame(reader, HANDSHAKE_LIMIT), HANDSHAKE_TIMEOUT
                )
                if kind is not FrameKind.HELLO:
                    raise PeerProtocolError(f"{kind.name} frame before the hello")
                hello = decode_hello(payload)
            except PeerProtocolError as e:
                log.warning("refused a peer connection from %s: %s", where, e)
                writer.write(frame(FrameKind.REFUSE, str(e).encode()))
                return
            why = self._refusal(hello)
            if why:
                log.warning("refused a peer connection from %s: %s", where, why)
                writer.write(frame(FrameKind.REFUSE, why.encode()))
                return
            writer.write(encode_welcome(self.member_id, self.cluster_id))
            if hello.channel is not Channel.REQUEST:
                previous = self._latest.get((hello.sender, hello.channel))
                if previous is not None:
                    previous.cancel()  # what it still holds is dropped, never delivered late
                self._latest[(hello.sender, hello.channel)] = task
            await self._serve_frames(hello, reader, writer)
        except (OSError, EOFError, asyncio.TimeoutError):
            pass  # the dialer went away
        except PeerProtocolError as e:
            log.warning("closed a peer connection from %s: %s", where, e)
        finally:
            writer.close()

    async def _serve_frames(
        self, hello: Hello, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        answering: set[asyncio.Task[None]] = set()
        drained = asyncio.Lock()
        accepts_messages = hello.channel is not Channel.REQUEST
        accepts_requests = hello.channel is not Channel.SNAPSHOT
        try:
            while True:
                kind, payload = await _read_frame(reader, MAX_FRAME)
                if kind is FrameKind.MESSAGE and accepts_messages:
                    self._deliver(decode_message(payload))
                elif kind is FrameKind.REQUEST and accepts_requests:
                    request = decode_request(payload)
                    task = asyncio.create_task(self._answer(writer, drained, *request))
                    answering.add(task)
                    task.add_done_callback(answering.discard)
                else:
                    channel = hello.channel.name
                    raise PeerProtocolError(f"{kind.name} frame on a {channel} connection")
        finally:
            key = (hello.sender, hello.channel)
            if self._latest.get(key) is asyncio.current_task():
                del self._latest[key]
            for task in answering:
                task.cancel()
            await asyncio.gather(*answering, return_exceptions=True)

    def _deliver(self, message: Message) -> None:
        if message.to != self.member_id:
            log.debug("dropped a %s message for member %s", message.type.value, _hex(message.to))
            return
        try:
            self.handler.receive(message)
        except Exception:
            log.exception("the member failed to receive a %s message", message.type.value)

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        drained: asyncio.Lock,
        request_id: int,
        kind: str,
        body: bytes,
    ) -> None:
        try:
            reply = encode_answer(
                FrameKind.ANSWER, request_id, await self.handler.answer(kind, body)
            )
        except PeerRequestError as e:
            reply = encode_answer(FrameKind.FAILED, request_id, str(e).encode())
        except Exception:
            log.exception("unexpected error answering a peer's %s request", kind)
            reply = encode_answer(FrameKind.FAILED, request_id, INTERNAL_ERROR.encode())
        writer.write(reply)  # one write per frame: answers never interleave
        with contextlib.suppress(OSError):
            async with drained:
                await writer.drain()


async def fetch_from(
    urls: Sequence[str],
    kind: str,
    body: bytes,
    timeout: float,
    *,
    cluster_id: int = 0,
    sender: int = 0,
) -> bytes:
    """The answer to a ``kind`` request from the first of ``urls`` that answers: how a
    member joining an existing cluster, knowing no member id, asks for the membership.
    ``cluster_id`` 0 accepts any cluster (the joiner may not know its id yet).

    Raises PeerRequestError when a peer's handler refused, PeerUnreachableError when no
    URL could be reached, TimeoutError when ``timeout`` seconds ran out first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    failures = []
    for url in urls:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            reader, writer = await _dial(url, Hello(Channel.REQUEST, sender, 0, cluster_id), left)
        except PeerUnreachableError as e:
            failures.append(str(e))
            continue
        try:
            writer.write(encode_request(1, kind, body))
            left = max(deadline - loop.time(), 0)
            answered, payload = await asyncio.wait_for(_read_frame(reader, MAX_FRAME), left)
            if answered not in (FrameKind.ANSWER, FrameKind.FAILED):
                raise PeerProtocolError(f"{answered.name} frame instead of an answer")
            _, answer = decode_answer(payload)
            if answered is FrameKind.FAILED:
                raise PeerRequestError(answer.decode(errors="replace"))
            return answer
        except (OSError, EOFError, asyncio.TimeoutError, PeerProtocolError) as e:
            failures.append(f"{url}: {e!r}")
        finally:
            writer.close()
    summary = "; ".join(failures) or "no URL given"
    if loop.time() >= deadline:
        raise TimeoutError(f"no peer answered {kind} within {timeout}s: {summary}")
    raise PeerUnreachableError(f"no peer answered {kind}: {summary}")
