"""Election candidates that campaign, proclaim and resign, and observers (sync and
async) recording every leader change they are told of."""

from __future__ import annotations

import asyncio
import threading

from etcd3py import AsyncClient, Client, ElectionNotLeaderError, EtcdError
from etcd3py.recipes import AsyncElection, Election, Session

from .recipe_history import Candidacy, Leadership, Observation, Proclamation
from .recipe_worker import NAMESPACE, Shared, Worker, outcome_of
from .traffic import CALL_TIMEOUT

ELECTION = NAMESPACE + b"election"
ELECTION_TTL = 3


class Candidate(Worker):
    """Campaigns on a session of its own; leading, proclaims a few values and resigns.

    When the run stops (``stop``) it keeps a leadership it holds and says it is
    ``idle``, so the observers can be checked to converge on that leader; it resigns
    once ``release`` is set."""

    def __init__(
        self, name: str, shared: Shared, stop: threading.Event, release: threading.Event
    ) -> None:
        super().__init__(name, shared, stop)
        self.release = release
        self.idle = threading.Event()
        self.kept: tuple[Election, Leadership] | None = None
        self._count = 0

    def body(self) -> None:
        session: Session | None = None
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            try:
                while not self.halt.is_set():
                    try:
                        if session is None or session.lost:
                            session = Session(client, ttl=ELECTION_TTL).start()
                        self._term(client, session)
                    except EtcdError as err:
                        self.failed(err)
            finally:
                self.idle.set()
            self.release.wait()
            self._resign_kept(session)

    def _term(self, client: Client, session: Session) -> None:
        self._count += 1
        value = b"%s-%d" % (self.label.encode(), self._count)
        key = ELECTION + b"/%x" % session.lease_id
        election = Election(session, ELECTION)
        try:
            won = election.campaign(value, timeout=1.0)
        except EtcdError:
            self.records.candidacies.append(Candidacy(self.label, key, value, "error"))
            raise
        if not won:
            self.records.candidacies.append(Candidacy(self.label, key, value, "timeout"))
            return
        started = self.clock.now()
        try:
            term = election.revision
        except ElectionNotLeaderError:  # lost at once: it may show as an unseen leader
            self.records.candidacies.append(Candidacy(self.label, key, value, "lost"))
            return
        self.records.candidacies.append(Candidacy(self.label, key, value, "won"))
        lead = Leadership(self.label, key, term, value, started, started, "resigned")
        for _ in range(self.rng.randint(2, 5)):
            if self.pause(0.1, 0.3):
                self.kept = (election, lead)
                return
            self._count += 1
            said = b"%s-%d" % (self.label.encode(), self._count)
            call = self.clock.now()
            try:
                election.proclaim(said)
            except ElectionNotLeaderError:
                self._proclaimed(lead, said, call, "refused", None)
                self._ended(lead, "lost")
                return
            except EtcdError as err:
                self._proclaimed(lead, said, call, outcome_of(err), None)
                self.stats.count(err)
                continue
            self._proclaimed(lead, said, call, "ok", self._revision(client, lead))
        end = "resigned"
        try:
            election.resign()
        except EtcdError as err:
            self.stats.count(err)
            end = "unknown"
        self._ended(lead, end)

    def _revision(self, client: Client, lead: Leadership) -> int | None:
        """The revision of the proclamation just made: the leader key's mod_revision,
        read back while it still is this term's key (None when it is not)."""
        try:
            got = client.get(lead.key)
        except EtcdError:
            return None
        kv = got.kvs[0] if got.kvs else None
        return kv.mod_revision if kv is not None and kv.create_revision == lead.term else None

    def _proclaimed(
        self, lead: Leadership, value: bytes, call: float, outcome: str, revision: int | None
    ) -> None:
        ret = None if outcome == "unknown" else self.clock.now()
        if outcome == "ok" and revision is None:
            outcome = "unknown"  # applied, but its revision is not known: not ordered
        self.records.proclamations.append(
            Proclamation(self.label, lead.key, lead.term, value, call, ret, outcome, revision)
        )

    def _ended(self, lead: Leadership, end: str) -> None:
        lead = Leadership(
            lead.candidate, lead.key, lead.term, lead.value, lead.won, self.clock.now(), end
        )
        self.records.leaderships.append(lead)

    def _resign_kept(self, session: Session | None) -> None:
        if self.kept is not None:
            election, lead = self.kept
            self.kept = None
            try:
                election.resign()
            except EtcdError as err:
                self.stats.count(err)
            self._ended(lead, "kept")
        if session is not None:
            try:
                session.close()
            except EtcdError as err:
                self.stats.count(err)


class ElectionObserver(Worker):
    """Records every leader change an Observer reports; a failed observer is replaced."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event) -> None:
        super().__init__(name, shared, stop)
        self.last: Observation | None = None

    def body(self) -> None:
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                try:
                    with Election(client, ELECTION).observe() as observer:
                        while not self.halt.is_set():
                            kv = observer.get(timeout=0.2)
                            if kv is not None:
                                self._saw(kv.key, kv.create_revision, kv.mod_revision, kv.value)
                except EtcdError as err:
                    self.failed(err)

    def _saw(self, key: bytes, term: int, mod: int, value: bytes) -> None:
        """Record a report (``last`` is what the run's end compares with the leader)."""
        seen = Observation(self.label, key, term, mod, value, self.clock.now())
        self.records.observations.append(seen)
        self.last = seen


class AsyncElectionObserver(ElectionObserver):
    """The same as ElectionObserver through AsyncClient and AsyncElection."""

    def body(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        async with AsyncClient(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                try:
                    async with AsyncElection(client, ELECTION).observe() as observer:
                        while not self.halt.is_set():
                            kv = await observer.get(timeout=0.2)
                            if kv is not None:
                                self._saw(kv.key, kv.create_revision, kv.mod_revision, kv.value)
                except EtcdError as err:
                    self.stats.count(err)
                    await asyncio.sleep(0.1)  # back off while the cluster elects
