"""Ports for servers the tests start, chosen so that nothing else can take them.

A port found free by binding port 0 and closing the socket comes from the kernel's
ephemeral range: between that moment and the server's bind, an outgoing connection
of any process (or another xdist worker's port-0 bind) may take it, and the server
exits with "address already in use" (seen once in CI). Ports below (or above) the
ephemeral range are never picked by connect() or bind(0), so each process hands out
ports from its own slice of that space: one slice per xdist worker, walked in order
from an offset of its pid (a child started by a test walks apart from its parent),
each port checked free by a bind before it is given.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

_LOWEST = 10000  # below are well-known services' ports (and etcd's own 2379/2380)
_HIGHEST = 65535
_ENOUGH = 1000  # a slice smaller than this falls back to the kernel's choice


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _worker() -> tuple[int, int]:
    """(index, count) of this xdist worker; (0, 1) outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if name.startswith("gw") and name[2:].isdigit() and count.isdigit() and int(count) > 0:
        return int(name[2:]) % int(count), int(count)
    return 0, 1


def _own_slice() -> range:
    low, high = _ephemeral_range()
    below, above = range(_LOWEST, max(_LOWEST, low)), range(max(_LOWEST, high + 1), _HIGHEST + 1)
    space = below if len(below) >= len(above) else above
    index, count = _worker()
    size = len(space) // count
    return space[index * size : (index + 1) * size]


class _Ports:
    def __init__(self) -> None:
        self._slice = _own_slice()
        self._next = os.getpid() % len(self._slice) if len(self._slice) >= _ENOUGH else 0
        self._given: set[int] = set()  # for the fallback only

    def take(self) -> int:
        if len(self._slice) < _ENOUGH:
            return self._kernels_choice()
        for _ in range(len(self._slice)):
            port = self._slice[self._next]
            self._next = (self._next + 1) % len(self._slice)
            if _bindable(port):
                return port
        raise RuntimeError(f"no free port in {self._slice}")

    def _kernels_choice(self) -> int:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in self._given:
                self._given.add(port)
                return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_ports: _Ports | None = None


def free_port() -> int:
    """A loopback port free now that nobody else will take before the caller binds it:
    never given twice in this process until its slice (over a thousand ports) wraps."""
    global _ports
    if _ports is None:
        _ports = _Ports()
    return _ports.take()
