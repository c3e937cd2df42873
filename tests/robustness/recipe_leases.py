"""Sessions kept alive by the client across the faults: when the client reported each
lost, and at the end whether etcd still knows each lease (TimeToLive)."""

from __future__ import annotations

import threading

from etcd3py import Client, EtcdError
from etcd3py.recipes import Session

from .recipe_history import LeaseRecord
from .recipe_worker import Shared, Worker
from .traffic import CALL_TIMEOUT

KEEPER_TTLS = (2, 3, 5)


class LeaseKeeper(Worker):
    """Keeps a few sessions alive; a lost one is recorded and replaced. At the end it asks
    etcd (TimeToLive) whether each lease still exists, then closes the sessions."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event) -> None:
        super().__init__(name, shared, stop)
        self._lost: dict[int, tuple[float, str | None]] = {}  # lease id -> notice

    def body(self) -> None:
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            live: dict[int, Session] = {}  # slot -> its current session
            granted: list[tuple[int, int, float]] = []  # (lease id, ttl, when)
            while not self.halt.wait(0.2):
                for slot, ttl in enumerate(KEEPER_TTLS):
                    current = live.get(slot)
                    if current is not None and not current.lost:
                        continue
                    try:
                        session = Session(client, ttl=ttl).start()
                    except EtcdError as err:
                        self.failed(err)
                        continue
                    granted.append((session.lease_id, ttl, self.clock.now()))
                    session.on_lost(self._notice)
                    live[slot] = session
            for lease_id, ttl, when in granted:
                end_ttl, checked = self._ask(client, lease_id)
                lost_at, reason = self._lost.get(lease_id, (None, None))
                self.records.leases.append(
                    LeaseRecord(self.label, lease_id, ttl, when, lost_at, reason, end_ttl, checked)
                )
            for session in live.values():
                try:
                    session.close()
                except EtcdError as err:
                    self.stats.count(err)

    def _notice(self, session: Session) -> None:
        self._lost.setdefault(session.lease_id, (self.clock.now(), session.lost_reason))

    def _ask(self, client: Client, lease_id: int) -> tuple[int | None, float | None]:
        """TimeToLive's answer for the lease and when it came (None, None: no answer)."""
        try:
            ttl = client.time_to_live(lease_id).ttl
        except EtcdError as err:
            self.stats.count(err)
            return None, None
        return ttl, self.clock.now()
