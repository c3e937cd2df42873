"""A TCP proxy between a client and a server, to cut connections for real."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``127.0.0.1:<target_port>``, byte for byte."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # lets the accept loop notice close()
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._refusing = False
        self._muted = False
        self._deaf = False
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> TcpProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._acceptor.join(5)
        self._listener.close()
        self.cut()

    def cut(self) -> None:
        """Close every connection open through the proxy; new ones are accepted."""
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    def down(self) -> None:
        """Cut every connection and turn new ones away until ``up()``: an outage."""
        self._refusing = True
        self.cut()

    def up(self) -> None:
        self._refusing = False
        self._muted = False
        self._deaf = False

    def mute(self) -> None:
        """Drop what the server sends until ``down()``: requests arrive and are
        applied, their answers are lost (a write of unknown outcome)."""
        self._muted = True

    def deafen(self) -> None:
        """Drop what the client sends until ``down()``: requests never reach the server
        and no answer comes (a write of unknown outcome that was not applied)."""
        self._deaf = True

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._refusing:
                _close(client)
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for src, dst, answers in ((client, server, False), (server, client, True)):
                threading.Thread(target=self._pipe, args=(src, dst, answers), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, answers: bool) -> None:
        try:
            while data := src.recv(65536):
                if not (self._muted if answers else self._deaf):
                    dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            _close(sock)
        with self._lock:
            self._open.difference_update((src, dst))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
