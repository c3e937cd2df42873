"""Traffic for the robustness runs: client threads and watchers that record a History.

Each client thread runs a seeded random mix over a few keys, shaped like Kubernetes'
use of etcd: linearizable gets, puts of unique values, deletes, and compare-and-swap
transactions on the mod_revision last seen. Every call is recorded as an Op with its
call and return times; an error is either "not applied" (``failed``) or an unknown
outcome (``ret=None``), and only errors etcd3py can prove harmless count as the first.
Watchers follow the key prefix from a known revision, with prev_kv, and record every
event; a broken stream is resumed by the client itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from typing import Any

import grpc

from etcd3py import (
    AsyncClient,
    Client,
    ConnectionFailedError,
    EtcdError,
    EventType,
    ModRevision,
    NoLeaderError,
    ProposalDroppedError,
    Put,
    TooManyRequestsError,
    WatchResponse,
)
from etcd3py._keys import prefix_end
from etcd3py._retry import never_sent

from .history import History, Op, WatchEvent, WatchOptions

PREFIX = b"/robustness/"
KEY_COUNT = 10
# calls a second over all clients, at most: a history a checker can search, and room
# on two cores for the cluster itself (a slow cluster answers fewer)
DEFAULT_RATE = 300.0
CALL_TIMEOUT = 2.0  # seconds a call may take before its outcome is unknown
# the Kubernetes-like profile: mostly reads and CAS updates, some blind writes
PROFILE: tuple[tuple[str, int], ...] = (("get", 45), ("txn", 30), ("put", 15), ("delete", 10))


def keys() -> list[bytes]:
    return [PREFIX + b"k%d" % i for i in range(KEY_COUNT)]


def not_applied(err: BaseException) -> bool:
    """True when the error proves the call changed nothing: raft dropped the proposal,
    etcd refused it before proposing (no leader, too many requests), or it never left
    the client. Anything else -- a timeout, a cut connection -- may hide a write."""
    if isinstance(err, (ProposalDroppedError, NoLeaderError, TooManyRequestsError)):
        return True
    if isinstance(err, ConnectionFailedError):
        cause = err.__cause__
        return isinstance(cause, grpc.RpcError) and never_sent(cause)
    return False


# deliberate bugs a run can be told to have, to show that the checkers flag them
REPEAT_WRITES = "repeat-writes"  # every put sent twice, as a client retrying a lost answer
STALE_READS = "stale-reads"  # server_ref serves linearizable reads without ReadIndex
BROKEN_MODES = (REPEAT_WRITES, STALE_READS)


class _Blocking:
    """An AsyncClient driven from one thread through its own event loop, so that the
    same recording code exercises both faces of the client."""

    def __init__(self, client: AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client = client
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(method(*args, **kwargs))

        return call


@contextlib.contextmanager
def open_client(endpoints: Sequence[str], face: str, timeout: float) -> Iterator[Any]:
    """A client of the ``face`` asked ("sync" or "async"), closed at the end."""
    if face == "sync":
        with Client(list(endpoints), timeout=timeout) as client:
            yield client
        return
    loop = asyncio.new_event_loop()
    try:

        async def make() -> AsyncClient:  # built on the loop that will drive it
            return AsyncClient(list(endpoints), timeout=timeout)

        aclient = loop.run_until_complete(make())
        try:
            yield _Blocking(aclient, loop)
        finally:
            loop.run_until_complete(aclient.close())
    finally:
        loop.close()


class Clock:
    """Seconds since the run began, shared by every recorder so times compare."""

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin


def sum_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Error counts by type, added up over clients or workloads."""
    total: Counter[str] = Counter()
    for one in counts:
        total.update(one)
    return dict(total)


@dataclass
class ClientStats:
    errors: dict[str, int] = field(default_factory=dict)

    def count(self, err: BaseException) -> None:
        name = type(err).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


class TrafficClient(threading.Thread):
    """One client: its own etcd3py Client over every endpoint, its own seeded choices."""

    def __init__(
        self,
        number: int,
        endpoints: Sequence[str],
        seed: int,
        clock: Clock,
        stop: threading.Event,
        interval: float,
        repeat_writes: bool = False,
    ) -> None:
        super().__init__(name=f"robustness-client-{number}", daemon=True)
        self.number = number
        self.face = "sync" if number % 2 == 0 else "async"  # both faces of the client
        self._repeat_writes = repeat_writes
        self._endpoints = list(endpoints)
        self._rng = random.Random(f"{seed}/client/{number}")
        self._clock = clock
        self._halt = stop
        self._interval = interval  # seconds between the starts of two calls, at most
        self._counter = 0
        self._seen_mod: dict[bytes, int] = {}  # key -> mod_revision last seen (0: absent)
        self.ops: list[Op] = []
        self.stats = ClientStats()
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            with open_client(self._endpoints, self.face, CALL_TIMEOUT) as client:
                kinds = [k for k, _ in PROFILE]
                weights = [w for _, w in PROFILE]
                all_keys = keys()
                due = time.monotonic()
                while not self._halt.wait(max(0.0, due - time.monotonic())):
                    due = max(due, time.monotonic()) + self._interval  # no burst after a stall
                    kind = self._rng.choices(kinds, weights)[0]
                    key = self._rng.choice(all_keys)
                    if kind == "txn" and key not in self._seen_mod:
                        kind = "get"  # a CAS needs a revision seen first, as a controller's
                    self._one(client, kind, key)
        except BaseException as err:  # reported by the run, not lost in a thread
            self.crash = err

    def _value(self) -> bytes:
        self._counter += 1
        return b"c%d-%d" % (self.number, self._counter)

    def _one(self, client: Any, kind: str, key: bytes) -> None:
        value = self._value() if kind in ("put", "txn") else None
        expect = self._seen_mod.get(key, 0) if kind == "txn" else None
        call = self._clock.now()
        base = Op(self.number, call, None, kind, key, value, expect)
        try:
            op = self._send(client, base)
        except EtcdError as err:
            self.stats.count(err)
            self._seen_mod.pop(key, None)  # what we knew of the key may be stale now
            if not_applied(err) or kind == "get":  # a failed read changed nothing
                op = _replace(base, ret=self._clock.now(), failed=True)
            else:
                op = base  # ret None: it may or may not have been applied
        self.ops.append(op)

    def _send(self, client: Any, op: Op) -> Op:
        key = op.key
        if op.kind == "get":
            got = client.get(key)
            kv = got.kvs[0] if got.kvs else None
            mod = kv.mod_revision if kv is not None else 0
            self._seen_mod[key] = mod
            return _replace(
                op,
                ret=self._clock.now(),
                revision=got.header.revision,
                got_value=kv.value if kv is not None else None,
                got_mod=mod,
            )
        if op.kind == "put":
            assert op.value is not None
            put = client.put(key, op.value)
            if self._repeat_writes:  # the deliberate bug: the first answer "lost"
                put = client.put(key, op.value)
            self._seen_mod[key] = put.header.revision
            return _replace(op, ret=self._clock.now(), revision=put.header.revision)
        if op.kind == "delete":
            deleted = client.delete(key)
            self._seen_mod[key] = 0
            return _replace(op, ret=self._clock.now(), revision=deleted.header.revision)
        assert op.value is not None and op.expect_mod is not None
        txn = client.txn([ModRevision(key) == op.expect_mod], [Put(key, op.value)])
        if txn.succeeded:
            self._seen_mod[key] = txn.header.revision
        else:
            self._seen_mod.pop(key, None)  # someone else wrote it: read it again first
        return _replace(
            op, ret=self._clock.now(), revision=txn.header.revision, succeeded=txn.succeeded
        )


class Watcher(threading.Thread):
    """Follows the key prefix from ``start`` with prev_kv and records every event.

    The client resumes the watch itself when its stream breaks; a watch that fails
    anyway (a compaction past where it was) ends the recording, and says so."""

    def __init__(
        self, number: int, endpoints: Sequence[str], start: int, stop: threading.Event
    ) -> None:
        super().__init__(name=f"robustness-watcher-{number}", daemon=True)
        self.number = number
        self.start_revision = start
        self._endpoints = list(endpoints)
        self._halt = stop
        self.events: list[WatchEvent] = []
        self.last_revision = start - 1  # every event up to here was recorded
        self.failure: BaseException | None = None
        self._progress = threading.Condition()
        # set while someone waits for a revision: other writers (the recipe workloads)
        # may move the revision past the last event under the prefix, so ask etcd to
        # confirm progress rather than wait for an event that will not come
        self._catch_up = threading.Event()

    def run(self) -> None:
        try:
            with (
                Client(self._endpoints, timeout=CALL_TIMEOUT) as client,
                client.watch(
                    PREFIX, prefix=True, start_revision=self.start_revision, prev_kv=True
                ) as watch,
            ):
                while not self._halt.is_set():
                    if self._catch_up.is_set():
                        client.request_progress()
                    response = watch.get(timeout=0.2)
                    if response is not None:
                        self._record(response)
        except BaseException as err:
            self.failure = err
        finally:
            with self._progress:
                self._progress.notify_all()

    def _record(self, response: WatchResponse) -> None:
        for event in response.events:
            kv, prev = event.kv, event.prev_kv
            put = event.type is EventType.PUT
            self.events.append(
                WatchEvent(
                    watcher=self.number,
                    key=kv.key,
                    type="PUT" if put else "DELETE",
                    value=kv.value if put else None,
                    mod_revision=kv.mod_revision,
                    create_revision=kv.create_revision,
                    version=kv.version,
                    prev_value=prev.value if prev is not None else None,
                    is_create=put and kv.create_revision == kv.mod_revision,
                )
            )
        if response.events:
            with self._progress:
                self.last_revision = response.events[-1].revision
                self._progress.notify_all()
        elif response.is_progress_notify:  # every event up to its revision has come
            with self._progress:
                self.last_revision = max(self.last_revision, response.header.revision)
                self._progress.notify_all()

    def wait_for(self, revision: int, timeout: float) -> bool:
        """Whether every event up to ``revision`` arrived within ``timeout``."""
        deadline = time.monotonic() + timeout
        self._catch_up.set()
        with self._progress:
            while self.last_revision < revision and self.failure is None:
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    return False
                self._progress.wait(left)
            return self.last_revision >= revision


class Traffic:
    """The client threads and watchers of one run, started and ended together."""

    def __init__(
        self,
        endpoints: Sequence[str],
        seed: int,
        clients: int,
        rate: float = DEFAULT_RATE,
        watchers: int = 2,
        repeat_writes: bool = False,
    ):
        self._endpoints = list(endpoints)
        self.clock = Clock()
        self._stop_clients = threading.Event()
        self._stop_watchers = threading.Event()
        with Client(self._endpoints, timeout=10.0) as client:
            self.start_revision = client.get(PREFIX, prefix=True).header.revision + 1
        self.clients = [
            TrafficClient(
                i,
                self._endpoints,
                seed,
                self.clock,
                self._stop_clients,
                clients / rate,
                repeat_writes,
            )
            for i in range(clients)
        ]
        self.watchers = [
            Watcher(i, self._endpoints, self.start_revision, self._stop_watchers)
            for i in range(watchers)
        ]

    def start(self) -> None:
        for thread in [*self.watchers, *self.clients]:
            thread.start()

    def watched_revision(self) -> int:
        """A revision every watcher has passed: compacting up to it loses them nothing."""
        return min(w.last_revision for w in self.watchers) + 1

    def stop_clients(self, timeout: float = 30.0) -> None:
        self._stop_clients.set()
        for thread in self.clients:
            thread.join(timeout)

    def finish(self, timeout: float = 20.0) -> tuple[History, list[str]]:
        """Stop the clients, let the watchers catch up with the last revision, and
        return the history with what went wrong on the harness's side."""
        self.stop_clients()
        problems = [f"client {c.number} crashed: {c.crash!r}" for c in self.clients if c.crash]
        problems += [f"client {c.number} did not stop" for c in self.clients if c.is_alive()]
        with Client(self._endpoints, timeout=10.0) as client:
            final = client.get(PREFIX, prefix=True).header.revision
        for watcher in self.watchers:
            if not watcher.wait_for(final, timeout):
                problems.append(
                    f"watcher {watcher.number} saw up to {watcher.last_revision} of {final}"
                    f" (failure: {watcher.failure!r})"
                )
        self._stop_watchers.set()
        for watcher in self.watchers:
            watcher.join(timeout)
        ops = sorted((op for c in self.clients for op in c.ops), key=lambda op: op.call)
        watches = {w.number: (w.start_revision, list(w.events)) for w in self.watchers}
        options = WatchOptions(PREFIX, prefix_end(PREFIX), prev_kv=True)
        return History(ops, watches, {w.number: options for w in self.watchers}), problems

    def error_counts(self) -> dict[str, int]:
        return sum_counts(c.stats.errors for c in self.clients)
