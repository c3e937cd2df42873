"""Bytes to standard output: etcdctl prints keys and values as raw bytes, not text."""

from __future__ import annotations

import sys


def write(data: bytes | str) -> None:
    """Write and flush (a watch's lines must appear as events come)."""
    out = sys.stdout.buffer
    out.write(data.encode() if isinstance(data, str) else data)
    out.flush()


def line(data: bytes | str = b"") -> None:
    """``data`` and a newline, as Go's fmt.Println."""
    write((data.encode() if isinstance(data, str) else data) + b"\n")
