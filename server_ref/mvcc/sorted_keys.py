"""A sorted set of byte keys with cheap inserts and range scans.

The MVCC store must find the keys of a range without looking at every key. A plain
sorted list costs O(n) per insert; here keys live in chunks of bounded size, so an
insert moves at most a chunk, and a range scan starts with a binary search.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

_CHUNK = 512


class SortedKeys:
    """Keys in lexicographic byte order; ``scan(begin, end)`` walks [begin, end)."""

    __slots__ = ("_chunks", "_len", "_maxes")

    def __init__(self) -> None:
        self._chunks: list[list[bytes]] = []
        self._maxes: list[bytes] = []  # last key of every chunk
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes) or not self._maxes:
            return False
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            return False
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        return j < len(chunk) and chunk[j] == key

    def add(self, key: bytes) -> None:
        """Insert ``key``; adding a present key changes nothing."""
        if not self._maxes:
            self._chunks.append([key])
            self._maxes.append(key)
            self._len = 1
            return
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            i -= 1  # beyond the last key: append to the last chunk
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        if j < len(chunk) and chunk[j] == key:
            return
        insort(chunk, key)
        self._maxes[i] = chunk[-1]
        self._len += 1
        if len(chunk) > 2 * _CHUNK:
            self._chunks[i : i + 1] = [chunk[:_CHUNK], chunk[_CHUNK:]]
            self._maxes[i : i + 1] = [chunk[_CHUNK - 1], chunk[-1]]

    def discard(self, key: bytes) -> None:
        """Remove ``key`` if present."""
        if not self._maxes:
            return
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            return
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        if j == len(chunk) or chunk[j] != key:
            return
        del chunk[j]
        self._len -= 1
        if chunk:
            self._maxes[i] = chunk[-1]
        else:
            del self._chunks[i]
            del self._maxes[i]

    def scan(self, begin: bytes, end: bytes | None) -> Iterator[bytes]:
        """Yield the keys k with begin <= k < end (no upper bound when end is None).

        The set must not change while the iterator is in use.
        """
        i = bisect_left(self._maxes, begin)
        if i == len(self._maxes):
            return
        chunks = self._chunks
        j = bisect_left(chunks[i], begin)
        while i < len(chunks):
            chunk = chunks[i]
            if end is not None and chunk[-1] >= end:
                yield from chunk[j : bisect_left(chunk, end, j)]
                return
            yield from chunk[j:] if j else chunk
            i += 1
            j = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield from chunk
