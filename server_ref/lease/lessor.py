"""Leases: grant, renew, revoke, expiry, and which keys each lease holds.

Follows etcd's lessor: a TTL below the minimum is raised to it (etcd derives the
minimum from its election timeout: 2 s with default settings), a TTL above
9,000,000,000 s is refused, and an expired lease is revoked like an explicit revoke,
deleting its keys in one revision.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Iterable

from etcd3py import _etcd_errors as E

from ..errors import ServerError
from ..storage.backend_size import BackendSize, lease_record_cost

MAX_LEASE_TTL = 9_000_000_000
# etcd's default --election-timeout, in seconds: a member that becomes leader extends
# every lease by it (lessor.Promote). Probed: right after a restart, etcd 3.5.1 reports
# a 5 s lease at TTL 5 for one second, then 4.
ELECTION_TIMEOUT = 1.0


class LeaseClock:
    """The lessor's time: ``time.monotonic()`` plus an offset that only grows.

    A test moves it forward (``EmbeddedServer.advance_clock``) to make leases run out
    without waiting; the server owns one and hands it to every lessor it makes.
    """

    __slots__ = ("offset",)

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the clock only moves forward: {seconds!r} seconds")
        self.offset += seconds


class NotPrimaryError(Exception):
    """A renewal asked of a member that does not lead: only the leader renews."""


class Lease:
    __slots__ = ("expiry", "id", "keys", "ttl")

    def __init__(self, lease_id: int, ttl: int, expiry: float) -> None:
        self.id = lease_id
        self.ttl = ttl  # granted TTL in seconds
        self.expiry = expiry  # time.monotonic() deadline
        self.keys: set[bytes] = set()

    def remaining(self, now: float) -> float:
        return self.expiry - now


class Lessor:
    """The lease table; also the store's LeaseIndex (key attachments)."""

    def __init__(
        self, backend: BackendSize, min_ttl: int = 2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.min_ttl = min_ttl
        self._backend = backend  # etcd keeps a record per lease in its backend
        self._clock = clock
        self._leases: dict[int, Lease] = {}
        self._expiries: list[tuple[float, int]] = []  # heap; stale entries are skipped
        # etcd's primary lessor: the leader's. Only it expires and renews leases; on
        # the others every lease lives until the leader's revoke is applied.
        self.primary = True
        self.granted = 0  # etcd_debugging_lease_granted_total
        self.revoked = 0  # etcd_debugging_lease_revoked_total (expiries too)

    # ---- LeaseIndex ----

    def attach(self, lease_id: int, key: bytes) -> None:
        lease = self._leases.get(lease_id)
        if lease is not None:
            lease.keys.add(key)

    def detach(self, lease_id: int, key: bytes) -> None:
        lease = self._leases.get(lease_id)
        if lease is not None:
            lease.keys.discard(key)

    # ---- table ----

    def lookup(self, lease_id: int) -> Lease | None:
        return self._leases.get(lease_id)

    def grant(self, lease_id: int, ttl: int) -> Lease:
        if lease_id == 0:
            raise ServerError(E.LEASE_NOT_FOUND)
        if ttl > MAX_LEASE_TTL:
            raise ServerError(E.LEASE_TTL_TOO_LARGE)
        if lease_id in self._leases:
            raise ServerError(E.LEASE_EXIST)
        ttl = max(ttl, self.min_ttl)
        lease = Lease(lease_id, ttl, self._clock() + ttl if self.primary else math.inf)
        self._leases[lease_id] = lease
        self.granted += 1
        self._backend.add(lease_record_cost(lease_id, ttl))
        if self.primary:
            heapq.heappush(self._expiries, (lease.expiry, lease_id))
        return lease

    def renew(self, lease_id: int) -> int:
        """Restart the lease's TTL; return it. An expired lease is not found; a lessor
        that is not primary renews nothing (the caller forwards to the leader)."""
        if not self.primary:
            raise NotPrimaryError(lease_id)
        lease = self._leases.get(lease_id)
        now = self._clock()
        if lease is None or lease.expiry <= now:
            raise ServerError(E.LEASE_NOT_FOUND)
        lease.expiry = now + lease.ttl
        heapq.heappush(self._expiries, (lease.expiry, lease_id))
        return lease.ttl

    def remove(self, lease_id: int) -> Lease:
        """Drop the lease from the table (the caller deletes its keys)."""
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            raise ServerError(E.LEASE_NOT_FOUND)
        self.revoked += 1
        self._backend.free(lease_record_cost(lease_id, lease.ttl))
        return lease

    def ids(self) -> list[int]:
        return list(self._leases)

    def leases(self) -> list[Lease]:
        """Every lease in the table, expired ones not yet revoked included."""
        return list(self._leases.values())

    def load(self, leases: Iterable[tuple[int, int]]) -> None:
        """Fill the empty table with (id, TTL) pairs read back from a backend, as etcd's
        lessor recovers them: TTLs as recorded (no minimum applied; 3.5.1 ignores a
        checkpointed remaining TTL), and no deadline until ``promote`` gives them one.
        Keys attach as the store loads."""
        if self._leases:
            raise ValueError("load() fills an empty lease table")
        for lease_id, ttl in leases:
            if lease_id in self._leases:
                raise ValueError(f"lease {lease_id:x} recorded twice")
            self._leases[lease_id] = Lease(lease_id, ttl, math.inf)
            self._backend.add(lease_record_cost(lease_id, ttl))

    def remaining_seconds(self, lease: Lease) -> int:
        """Whole seconds left, truncated as etcd reports them."""
        return int(lease.remaining(self._clock()))

    def promote(self, extend: float = ELECTION_TIMEOUT) -> None:
        """Give every lease its full TTL again from now, plus ``extend``: what etcd 3.5's
        lessor does when its member becomes leader (etcd passes its election timeout),
        so a restart never expires a lease that was kept alive up to the crash (its
        keep-alives could not reach a dead server)."""
        self.primary = True
        now = self._clock()
        self._expiries = []
        for lease in self._leases.values():
            lease.expiry = now + lease.ttl + extend
            self._expiries.append((lease.expiry, lease.id))
        heapq.heapify(self._expiries)

    def demote(self) -> None:
        """No longer the leader's: no lease expires here any more (etcd's Demote)."""
        self.primary = False
        self._expiries = []
        for lease in self._leases.values():
            lease.expiry = math.inf

    def clear(self) -> None:
        """Forget every lease (a snapshot replaces the whole state)."""
        for lease in self._leases.values():
            self._backend.free(lease_record_cost(lease.id, lease.ttl))
        self._leases = {}
        self._expiries = []

    # ---- expiry ----

    def expire_all(self) -> None:
        """Every lease's deadline is now: ``expired()`` names them all (a test's
        ``EmbeddedServer.expire_leases``). Only a primary lessor expires leases."""
        if not self.primary:
            return
        now = self._clock()
        for lease in self._leases.values():
            lease.expiry = now
        self._expiries = [(now, lease_id) for lease_id in sorted(self._leases)]

    def expired(self) -> list[int]:
        """Ids of leases whose deadline has passed (they stay in the table)."""
        now = self._clock()
        found: list[int] = []
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expiry, lease_id = heapq.heappop(heap)
            lease = self._leases.get(lease_id)
            if lease is not None and lease.expiry == expiry:
                found.append(lease_id)
        return found

    def next_expiry_in(self) -> float | None:
        """Seconds until the earliest deadline, or None when there is no lease."""
        heap = self._expiries
        while heap:
            expiry, lease_id = heap[0]
            lease = self._leases.get(lease_id)
            if lease is not None and lease.expiry == expiry:
                return max(0.0, expiry - self._clock())
            heapq.heappop(heap)
        return None
