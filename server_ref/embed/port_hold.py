"""Holding a killed member's client port until it restarts.

A member killed in a test restarts on the same port, as an etcd member does. While
it is down the port is free, and on a busy machine an outgoing connection of any
process (the kernel picks those ports from the same ephemeral range as ``port=0``)
or another server binding port 0 may take it: the restart would then fail with
"address already in use". A socket bound to the port without listening keeps both
away -- connect() and bind(0) skip every port that a bind holds -- while a client
connecting to it is still refused, as it is by a dead process. (The restart binds
once the hold is released, a moment before.)
"""

from __future__ import annotations

import contextlib
import socket


class PortHold:
    """A port kept from others between ``hold()`` and ``release()``."""

    def __init__(self) -> None:
        self._socket: socket.socket | None = None

    def hold(self, host: str, port: int) -> None:
        """Best effort: a port that cannot be held now (already taken) is left to the
        restart to report."""
        self.release()
        with contextlib.suppress(OSError, IndexError):
            family, kind, proto, _, address = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )[0]
            # Without SO_REUSEADDR even a listener that sets it cannot bind the port;
            # but the stopped server's connections in TIME_WAIT refuse such a bind,
            # and then the port is held with it (still against connect() and bind(0))
            for reuse in (0, 1):
                held = socket.socket(family, kind, proto)
                held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse)
                try:
                    held.bind(address)
                except OSError:
                    held.close()
                    continue
                self._socket = held
                return

    def release(self) -> None:
        held, self._socket = self._socket, None
        if held is not None:
            held.close()
