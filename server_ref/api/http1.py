"""A small HTTP/1.x server on asyncio streams, for the connections the front listener
(front.py) hands over: requests with a Content-Length or chunked body, keep-alive, and
answers framed as Go's net/http frames them (Date, Content-Length, the request's
protocol version)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("etcd3py.server_ref")
MAX_HEADER_BYTES = 1 << 20  # Go's http.DefaultMaxHeaderBytes


@dataclass
class Request:
    method: str
    target: str
    version: str  # "HTTP/1.1"
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # given: the body is sent chunked, piece by piece, until the iterator ends
    stream: AsyncIterator[bytes] | None = None


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    pass


def text_error(status: int, message: str) -> Response:
    """Go's http.Error: the message and a newline, as plain text."""
    return Response(
        status,
        (message + "\n").encode(),
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\n")
            size = int(size_line.split(b";")[0].strip() or b"x", 16)
            if size == 0:
                while (await reader.readuntil(b"\n")).strip():  # trailers
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readuntil(b"\n")
    length = headers.get("content-length")
    if length is None:
        return b""
    if not length.isdigit():
        raise BadRequest("bad Content-Length")
    return await reader.readexactly(int(length))


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request, or None when the client closed the connection between two."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if err.partial.strip():
            raise BadRequest("truncated request") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest("request header too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    try:
        body = await _read_body(reader, headers)
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise BadRequest("malformed body") from None
    return Request(parts[0], parts[1], parts[2], headers, body)


def _keep_alive(request: Request) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


def encode_response(request_version: str, response: Response, keep_alive: bool) -> bytes:
    """The status line and headers, and the body unless it is streamed."""
    status = HTTPStatus(response.status)
    lines = [f"{request_version} {status.value} {status.phrase}"]
    headers = list(response.headers)
    headers.append(("Date", email.utils.formatdate(usegmt=True)))
    if response.stream is not None:
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(len(response.body))))
    if request_version == "HTTP/1.0":  # closes unless asked otherwise: no header
        if keep_alive:
            headers.append(("Connection", "keep-alive"))
    elif not keep_alive:
        headers.append(("Connection", "close"))
    lines += [f"{name}: {value}" for name, value in sorted(headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


class HttpServer:
    """Serves ``handler`` on connections handed over with the bytes already read."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def adopt(self, sock: socket.socket, head: bytes) -> None:
        """Serve ``sock`` (on the running loop), of which ``head`` was already read."""
        task = asyncio.get_running_loop().create_task(self.serve(sock, head))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def serve(self, sock: socket.socket, head: bytes) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
        reader.feed_data(head)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        self._writers.add(writer)
        try:
            await self._requests(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # as Go's net/http after a handler's panic: log, close
            log.exception("http: error serving a request")
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_request(reader)
            except BadRequest:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                writer.write(b"400 Bad Request")
                await writer.drain()
                return
            if request is None:
                return
            response = await self._handler(request)
            keep_alive = _keep_alive(request)
            head = encode_response(request.version, response, keep_alive)
            if response.stream is not None:
                await self._send_chunks(head, response.stream, writer)
            else:
                writer.write(head)
                await writer.drain()
            if not keep_alive:
                return

    @staticmethod
    async def _send_chunks(
        head: bytes, stream: AsyncIterator[bytes], writer: asyncio.StreamWriter
    ) -> None:
        """The headers with the first piece (as grpc-gateway sends them), then the rest."""
        try:
            async for chunk in stream:
                writer.write(head + b"%x\r\n%s\r\n" % (len(chunk), chunk))
                head = b""
                await writer.drain()
            writer.write(head + b"0\r\n\r\n")
            await writer.drain()
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    def close_all(self) -> None:
        """Cut every connection (the member stops)."""
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
