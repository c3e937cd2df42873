"""One port, two protocols, as etcd's cmux: a client URL serves gRPC and HTTP/1.x.

grpcio cannot serve HTTP/1.1 and cannot adopt a socket it did not accept, so a plain
``http://`` client URL is bound here instead, and served by a small child process (this
file run as a script: standard library only, so it starts in milliseconds) that reads
the first bytes of each connection and

* on the HTTP/2 preface (every gRPC client sends it first) connects to the member's
  gRPC server on a private unix socket and joins the two sockets in two threads that
  move the bytes with ``os.splice`` through a pipe: the kernel copies, and no Python
  object is made per message;
* on an HTTP/1.x request line passes the connection (its descriptor, over a unix
  socket) with the bytes already read back to the member, which serves it on its
  event loop;
* on anything else closes the connection, as cmux does when no matcher matches.

Why a process: joined in threads of the member's own process, the pumps need the GIL
after every splice and wait for it behind the gRPC handlers; measured, that took half
of gRPC's throughput (docs/server_ref.md). The child never touches the member's GIL.
It ends when the member closes its end of the control socket (or dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_FIRST_LINE = 4096  # cmux reads at most this much to match an HTTP/1 request line
_HTTP1_LINE = re.compile(rb"[!-~]+ [!-~]+ HTTP/1\.\d\r?\n")
_CHUNK = 1 << 16
_MAX_HANDOFF = 1 << 16  # a hand-off message: the bytes read before the kind was known
_splice = getattr(os, "splice", None)  # Linux, Python 3.10+
STOP_TIMEOUT = 5.0
START_TIMEOUT = 30.0  # the child starts in milliseconds; a loaded machine may take more
READY = b"ready"  # the child's first message: it accepts from now on

HandOff = Callable[[socket.socket, bytes], None]


def classify(head: bytes) -> str | None:
    """``"h2"``, ``"http1"``, ``"close"``, or None while ``head`` is too short to say."""
    if head.startswith(HTTP2_PREFACE):
        return "h2"
    if len(head) < len(HTTP2_PREFACE) and HTTP2_PREFACE.startswith(head):
        return None
    newline = head.find(b"\n")
    if newline < 0:
        return None if len(head) < MAX_FIRST_LINE else "close"
    return "http1" if _HTTP1_LINE.fullmatch(head[: newline + 1]) else "close"


def _shut(sock: socket.socket, how: int = socket.SHUT_RDWR) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until ``src`` ends; then end ``dst``'s write side."""
    try:
        if _splice is not None:
            read_end, write_end = os.pipe()
            try:
                source, sink = src.fileno(), dst.fileno()
                while True:
                    moved = _splice(source, write_end, _CHUNK)
                    if moved == 0:
                        break
                    while moved:
                        moved -= _splice(read_end, sink, moved)
            finally:
                os.close(read_end)
                os.close(write_end)
        else:
            buffer = bytearray(_CHUNK)
            while n := src.recv_into(buffer):
                dst.sendall(memoryview(buffer)[:n])
    except OSError:
        _shut(src)
    finally:
        _shut(dst, socket.SHUT_WR)


class _Front:
    """The child's work: accept, classify, join or hand back, until told to stop."""

    def __init__(self, listener: socket.socket, control: socket.socket, grpc_path: str) -> None:
        self._listener = listener
        self._control = control
        self._grpc_path = grpc_path or None  # "": HTTP only
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = False

    def run(self) -> None:
        threading.Thread(target=self._accept_loop, daemon=True).start()
        self._control.send(READY)
        with contextlib.suppress(OSError):
            while self._control.recv(1):  # the member closes its end to stop us
                pass
        with self._lock:
            self._closed = True
            cut = list(self._open)
        _shut(self._listener)
        for sock in cut:
            _shut(sock)

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(conn):
                conn.close()
                return
            threading.Thread(target=self._dispatch, args=(conn,), daemon=True).start()

    def _track(self, *socks: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._open.update(socks)
            return True

    def _untrack(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.difference_update(socks)

    def _dispatch(self, conn: socket.socket) -> None:
        head, kind = b"", None
        try:
            while kind is None:
                more = conn.recv(MAX_FIRST_LINE)
                if not more:
                    break
                head += more
                kind = classify(head)
            if kind == "http1" and len(head) <= _MAX_HANDOFF:
                socket.send_fds(self._control, [head], [conn.fileno()])
            elif kind == "h2" and self._grpc_path is not None:
                self._join(conn, head, self._grpc_path)
        except OSError:
            pass
        finally:
            self._untrack(conn)
            conn.close()

    def _join(self, conn: socket.socket, head: bytes, grpc_path: str) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as backend:
            if not self._track(backend):
                return
            try:
                backend.connect(grpc_path)
                backend.sendall(head)
                upstream = threading.Thread(target=_pump, args=(conn, backend), daemon=True)
                upstream.start()
                _pump(backend, conn)
                upstream.join()
            finally:
                self._untrack(backend)


class FrontListener:
    """The member's side: binds ``(host, port)`` (so a failed bind is the member's
    error), runs the child on it, and gives each HTTP/1.x connection the child hands
    back to ``on_http`` on the member's event loop. ``grpc_path`` None: HTTP only
    (gRPC connections are closed, as on etcd's --listen-client-http-urls)."""

    def __init__(self, host: str, port: int, grpc_path: str | None) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._listener = socket.socket(family, kind, proto)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(address)
            self._listener.listen(128)
        except OSError:
            self._listener.close()
            raise
        self.port: int = self._listener.getsockname()[1]
        self._grpc_path = grpc_path or ""
        self._control: socket.socket | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, loop: asyncio.AbstractEventLoop, on_http: HandOff) -> None:
        """Start the child, and return once it accepts (a client's first connection must
        not wait for an interpreter to start); the hand-offs arrive on ``loop``."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs, self._listener:
            self._child = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-S",
                    __file__,
                    str(self._listener.fileno()),
                    str(theirs.fileno()),
                    self._grpc_path,
                ],
                pass_fds=(self._listener.fileno(), theirs.fileno()),
                stdin=subprocess.DEVNULL,
            )
        ours.setblocking(False)
        self._control = ours
        try:
            ready = await asyncio.wait_for(loop.sock_recv(ours, len(READY)), START_TIMEOUT)
        except (OSError, asyncio.TimeoutError):
            ready = b""
        if ready != READY:
            self.stop()
            raise OSError(f"the front listener on port {self.port} did not start")

        def receive() -> None:
            while True:
                try:
                    head, fds, _, _ = socket.recv_fds(ours, _MAX_HANDOFF, 1)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    head, fds = b"", []
                if not head and not fds:  # the child is gone
                    self._stop_reading()
                    return
                for fd in fds:
                    on_http(socket.socket(fileno=fd), head)

        loop.add_reader(ours.fileno(), receive)
        self._loop = loop

    def _stop_reading(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and self._control is not None:
            loop.remove_reader(self._control.fileno())

    def stop(self) -> None:
        """Stop accepting and cut every connection the child joined; returns once the
        port is free again."""
        self._stop_reading()
        control, self._control = self._control, None
        if control is not None:
            control.close()
        child, self._child = self._child, None
        if child is not None:
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        else:
            self._listener.close()


def main(argv: list[str]) -> None:
    listen_fd, control_fd, grpc_path = int(argv[1]), int(argv[2]), argv[3]
    listener = socket.socket(fileno=listen_fd)
    control = socket.socket(fileno=control_fd)
    _Front(listener, control, grpc_path).run()
    sys.stdout.flush()
    os._exit(0)  # the daemon threads still in splice need not be waited for


if __name__ == "__main__":
    main(sys.argv)
