"""Recipe workloads for the robustness runs: Mutex holders doing fenced writes, an
Election with observers, two Queues (ack mode and default mode), kept-alive Sessions.

Each workload is a few threads, each with its own client, seeded from the run's
seed and timed on the run's Clock, recording what it saw in a RecipeRecords that the
recipe checkers read. Keys live under NAMESPACE, outside the KV traffic's prefix.
TTLs are short so that the failpoints (outages of up to 1.5 s plus an election) now
and then cost a session, and the loss paths are exercised.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from etcd3py import (
    AsyncClient,
    Client,
    Compare,
    CreateRevision,
    Delete,
    ElectionNotLeaderError,
    EtcdError,
    Get,
    LeaseLostError,
    LockNotHeldError,
    Put,
    Txn,
)
from etcd3py.recipes import AsyncElection, AsyncMutex, AsyncSession, Election, Mutex, Queue, Session

from .recipe_history import (
    Ack,
    Acquisition,
    Candidacy,
    Delivery,
    Enqueue,
    FencedWrite,
    FinalLeader,
    Leadership,
    LeaseRecord,
    LossNotice,
    Observation,
    Proclamation,
    RecipeRecords,
)
from .traffic import CALL_TIMEOUT, ClientStats, Clock, not_applied

NAMESPACE = b"/robustness-recipes/"
LOCK = NAMESPACE + b"lock"
FENCED = NAMESPACE + b"fenced"
ELECTION = NAMESPACE + b"election"
ACK_QUEUE = NAMESPACE + b"queue-ack"
PLAIN_QUEUE = NAMESPACE + b"queue-plain"
LOCK_TTL = 2
ELECTION_TTL = 3
QUEUE_TTL = 3
KEEPER_TTLS = (2, 3, 5)
SETTLE_TIMEOUT = 20.0  # seconds the end may take to drain queues and converge observers


def outcome_of(err: BaseException) -> str:
    return "failed" if not_applied(err) else "unknown"


@dataclass(frozen=True)
class Shared:
    """What every worker of a run shares."""

    endpoints: list[str]
    seed: int
    clock: Clock
    records: RecipeRecords  # list appends are atomic: the workers share it
    # a deliberately broken lock holder, for proving the lock checker on a real run:
    # writes without the fencing compare, and goes on writing after its release
    broken_lock: bool = False


class Worker(threading.Thread):
    """A workload thread: its seeded choices, its error counts, a crash kept for the run."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event) -> None:
        super().__init__(name=f"robustness-{name}", daemon=True)
        self.label = name
        self.endpoints = shared.endpoints
        self.rng = random.Random(f"{shared.seed}/recipes/{name}")
        self.clock = shared.clock
        self.records = shared.records
        self.halt = stop
        self.stats = ClientStats()
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as err:  # reported by the run, not lost in a thread
            self.crash = err

    def body(self) -> None:
        raise NotImplementedError

    def failed(self, err: BaseException) -> None:
        """Count an error and back off a little (the cluster may be electing)."""
        self.stats.count(err)
        self.halt.wait(0.1)

    def pause(self, low: float, high: float) -> bool:
        """Wait a seeded while; True when the run is stopping."""
        return self.halt.wait(self.rng.uniform(low, high))


# ---- Mutex holders doing fenced writes ----------------------------------------------


class Holding:
    """Records of one holding of the lock: its fenced writes and its loss notice.

    A holder told that its session was lost goes on writing (fenced) until etcd
    refuses, for at most LOCK_TTL + 2 s: what the lock checker needs to see that a
    refusal never comes before the notice."""

    def __init__(self, worker: Worker, key: bytes, token: int) -> None:
        self.worker, self.key, self.token = worker, key, token
        self.broken = isinstance(worker, LockHolder) and worker.broken
        self.acquired = worker.clock.now()
        self.writes = worker.rng.randint(1, 4)
        self.written = 0
        self.told: float | None = None  # monotonic time of the loss notice
        self.refused = False

    def more(self) -> bool:
        """Whether to make another fenced write."""
        if self.worker.halt.is_set() or self.refused:
            return False
        if self.written < self.writes:
            return True
        return self.told is not None and time.monotonic() < self.told + LOCK_TTL + 2

    def lost(self, reason: str | None) -> None:
        w = self.worker
        w.records.loss_notices.append(
            LossNotice(w.label, self.token, w.clock.now(), reason or "lost")
        )
        self.told = time.monotonic()

    def fenced(self) -> tuple[list[Compare], list[Put | Get | Delete | Txn], float]:
        """The next fenced write's compare and put, and its call time."""
        self.written += 1
        value = b"%s/%d/%d" % (self.worker.label.encode(), self.token, self.written)
        compare: list[Compare] = [] if self.broken else [CreateRevision(self.key) == self.token]
        put: list[Put | Get | Delete | Txn] = [Put(FENCED, value)]
        return compare, put, self.worker.clock.now()

    def on_lost(self, session: Session | AsyncSession) -> None:
        self.lost(session.lost_reason)

    def wrote(self, call: float, succeeded: bool, revision: int) -> None:
        w = self.worker
        outcome = "ok" if succeeded else "refused"
        self.refused = not succeeded
        write = FencedWrite(w.label, self.token, call, w.clock.now(), outcome, revision)
        w.records.fenced_writes.append(write)

    def write_failed(self, call: float, err: BaseException) -> None:
        w = self.worker
        outcome = outcome_of(err)
        ret = w.clock.now() if outcome == "failed" else None
        w.records.fenced_writes.append(FencedWrite(w.label, self.token, call, ret, outcome))
        w.stats.count(err)

    def released(self, end: str) -> None:
        w = self.worker
        w.records.acquisitions.append(
            Acquisition(w.label, self.key, self.token, self.acquired, w.clock.now(), end)
        )


class LockHolder(Worker):
    """Acquires the Mutex (a session of its own per holding), writes fenced, releases."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event) -> None:
        super().__init__(name, shared, stop)
        self.broken = shared.broken_lock

    def body(self) -> None:
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                mutex = Mutex(client, LOCK, ttl=LOCK_TTL)
                try:
                    if not mutex.acquire(timeout=2.0):
                        continue
                    holding = Holding(self, mutex.key, mutex.revision)
                except EtcdError as err:  # LockNotHeldError too: lost at once
                    self.failed(err)
                    continue
                session = mutex.session
                assert session is not None
                session.on_lost(holding.on_lost)
                while holding.more():
                    compare, success, call = holding.fenced()
                    try:
                        txn = client.txn(compare, success)
                        holding.wrote(call, txn.succeeded, txn.header.revision)
                    except EtcdError as err:
                        holding.write_failed(call, err)
                    self.pause(0.02, 0.1)
                try:
                    mutex.release()
                    holding.released("released")
                except LockNotHeldError:
                    holding.released("lost")
                except EtcdError as err:
                    holding.released("unknown")
                    self.failed(err)
                if self.broken:
                    self._write_after_release(client, holding)

    def _write_after_release(self, client: Client, holding: Holding) -> None:
        """The broken holder's late writes (unfenced): what fencing exists to stop."""
        for _ in range(2):
            self.pause(0.05, 0.15)
            _, success, call = holding.fenced()
            try:
                txn = client.txn([], success)
                holding.wrote(call, txn.succeeded, txn.header.revision)
            except EtcdError as err:
                holding.write_failed(call, err)


class AsyncLockHolder(Worker):
    """The same as LockHolder through AsyncClient and AsyncMutex."""

    def body(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        async with AsyncClient(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                mutex = AsyncMutex(client, LOCK, ttl=LOCK_TTL)
                try:
                    if not await mutex.acquire(timeout=2.0):
                        continue
                    holding = Holding(self, mutex.key, mutex.revision)
                except EtcdError as err:
                    self.stats.count(err)
                    await asyncio.sleep(0.1)  # back off while the cluster elects
                    continue
                session = mutex.session
                assert session is not None
                session.on_lost(holding.on_lost)
                while holding.more():
                    compare, success, call = holding.fenced()
                    try:
                        txn = await client.txn(compare, success)
                        holding.wrote(call, txn.succeeded, txn.header.revision)
                    except EtcdError as err:
                        holding.write_failed(call, err)
                    await asyncio.sleep(self.rng.uniform(0.02, 0.1))  # the work under the lock
                try:
                    await mutex.release()
                    holding.released("released")
                except LockNotHeldError:
                    holding.released("lost")
                except EtcdError as err:
                    holding.released("unknown")
                    self.stats.count(err)


# ---- Election -------------------------------------------------------------------------


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
        self.records.candidacies.append(
            Candidacy(self.label, key, value, "won" if won else "timeout")
        )
        if not won:
            return
        started = self.clock.now()
        try:
            term = election.revision
        except ElectionNotLeaderError:
            return  # lost at once: its key may show in observations as an unseen leader
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


# ---- Queues -----------------------------------------------------------------------------


class Producer(Worker):
    """Puts unique items, recording each put's outcome."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event, queue: bytes) -> None:
        super().__init__(name, shared, stop)
        self.queue = queue

    def body(self) -> None:
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            queue = Queue(client, self.queue)
            n = 0
            while not self.pause(0.1, 0.3):
                n += 1
                item = b"%s-%d" % (self.label.encode(), n)
                call = self.clock.now()
                ret: float | None
                try:
                    queue.put(item)
                    outcome, ret = "ok", self.clock.now()
                except EtcdError as err:
                    outcome = outcome_of(err)
                    ret = self.clock.now() if outcome == "failed" else None
                    self.stats.count(err)
                name = self.queue.decode()
                self.records.enqueues.append(Enqueue(name, self.label, item, call, ret, outcome))


class Consumer(Worker):
    """Takes items until stopped; in ack mode acks each after a short piece of work.

    An ack-mode take or ack that failed may leave a claim on our session: the queue is
    closed (its session revoked, its claims freed for other consumers) and made again."""

    def __init__(
        self, name: str, shared: Shared, stop: threading.Event, queue: bytes, ack: bool
    ) -> None:
        super().__init__(name, shared, stop)
        self.queue, self.ack = queue, ack

    def body(self) -> None:
        name = self.queue.decode()
        with Client(self.endpoints, timeout=CALL_TIMEOUT) as client:
            while not self.halt.is_set():
                try:
                    if self.ack:
                        self._ack_mode(client, name)
                    else:
                        self._plain_mode(client, name)
                except EtcdError as err:
                    self.failed(err)

    def _plain_mode(self, client: Client, name: str) -> None:
        queue = Queue(client, self.queue)
        while not self.halt.is_set():
            item = queue.get(timeout=0.3)
            if item is not None:
                self._delivered(name, item)

    def _ack_mode(self, client: Client, name: str) -> None:
        queue = Queue(client, self.queue, ack=True, ttl=QUEUE_TTL)
        try:
            while not self.halt.is_set():
                job = queue.get(timeout=0.3)
                if job is None:
                    continue
                self._delivered(name, job.value)
                self.pause(0.01, 0.05)  # the work
                try:
                    job.ack()
                    self._acked(name, job.value, "ok")
                except LeaseLostError:
                    self._acked(name, job.value, "lost")
                except EtcdError:
                    # the claim may stand on our live session: closing the queue frees it
                    self._acked(name, job.value, "unknown")
                    raise
        finally:
            try:
                queue.close()
            except EtcdError as err:
                self.stats.count(err)  # its session then expires within QUEUE_TTL

    def _delivered(self, name: str, item: bytes) -> None:
        self.records.deliveries.append(Delivery(name, self.label, item, self.clock.now()))

    def _acked(self, name: str, item: bytes, outcome: str) -> None:
        self.records.acks.append(Ack(name, self.label, item, self.clock.now(), outcome))


# ---- Sessions kept alive ------------------------------------------------------------------


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


# ---- the workloads together ----------------------------------------------------------------


class RecipeTraffic:
    """Every recipe workload of one run, started and ended together."""

    def __init__(
        self, endpoints: Sequence[str], seed: int, clock: Clock, broken_lock: bool = False
    ) -> None:
        self._endpoints = list(endpoints)
        self.records = RecipeRecords()
        self.records.ack_mode = {ACK_QUEUE.decode(): True, PLAIN_QUEUE.decode(): False}
        self._stop_work = threading.Event()  # lock holders, candidates, producers
        self._stop_rest = threading.Event()  # observers, consumers, lease keepers
        shared = Shared(self._endpoints, seed, clock, self.records, broken_lock)
        work, rest = self._stop_work, self._stop_rest
        self.holders: list[Worker] = [
            LockHolder("lock-sync-0", shared, work),
            LockHolder("lock-sync-1", shared, work),
            AsyncLockHolder("lock-async-2", shared, work),
        ]
        self.candidates = [Candidate(f"candidate-{i}", shared, work, rest) for i in range(2)]
        self.producers = [
            Producer("producer-ack", shared, work, ACK_QUEUE),
            Producer("producer-plain", shared, work, PLAIN_QUEUE),
        ]
        self.observers = [
            ElectionObserver("observer-sync-0", shared, rest),
            AsyncElectionObserver("observer-async-1", shared, rest),
        ]
        self.consumers = [
            Consumer("consumer-ack-0", shared, rest, ACK_QUEUE, True),
            Consumer("consumer-ack-1", shared, rest, ACK_QUEUE, True),
            Consumer("consumer-plain-0", shared, rest, PLAIN_QUEUE, False),
        ]
        self.keepers = [LeaseKeeper("keeper", shared, rest)]

    @property
    def workers(self) -> list[Worker]:
        return [
            *self.observers,
            *self.consumers,
            *self.keepers,
            *self.holders,
            *self.candidates,
            *self.producers,
        ]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def finish(self, timeout: float = 30.0) -> tuple[RecipeRecords, list[str]]:
        """Stop the workers that change things, let the queues drain and the observers
        converge on the last leader, stop the rest; the records and the harness's
        problems."""
        self._stop_work.set()
        for worker in [*self.holders, *self.producers]:
            worker.join(timeout)
        for candidate in self.candidates:
            candidate.idle.wait(timeout)
        with Client(self._endpoints, timeout=10.0) as client:
            self._settle(client)
        self._stop_rest.set()
        for worker in self.workers:
            worker.join(timeout)
        problems = [f"{w.label} crashed: {w.crash!r}" for w in self.workers if w.crash]
        problems += [f"{w.label} did not stop" for w in self.workers if w.is_alive()]
        return self.records, problems

    def _settle(self, client: Client) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        for name in self.records.ack_mode:
            queue = Queue(client, name)
            try:
                drained = queue.join(timeout=max(0.0, deadline - time.monotonic()))
            except EtcdError:
                drained = False
            self.records.drained[name] = drained
        try:
            leader = Election(client, ELECTION).leader()
        except EtcdError:
            return
        if leader is None:
            self.records.converged = True
            return
        final = FinalLeader(leader.key, leader.create_revision, leader.mod_revision, leader.value)
        self.records.final_leader = final
        self.records.converged = _until(
            deadline, lambda: all(self._agrees(o, final) for o in self.observers)
        )

    @staticmethod
    def _agrees(observer: ElectionObserver, final: FinalLeader) -> bool:
        last = observer.last
        return last is not None and (last.term, last.mod_revision) == (
            final.term,
            final.mod_revision,
        )

    def error_counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for w in self.workers:
            for name, n in w.stats.errors.items():
                total[name] = total.get(name, 0) + n
        return total


def _until(deadline: float, condition: Callable[[], bool]) -> bool:
    """Poll ``condition`` until it holds (True) or the deadline passes (False)."""
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling other threads' progress, under a deadline
    return True
