"""Lock and Election services: etcd's concurrency recipes served over gRPC.

etcd runs its Go Mutex and Election on the request's lease, so keys are
"<name>/<lease hex>", the oldest key under "<name>/" holds the lock (leads), and
every error comes back as UNKNOWN with the error's text.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import grpc
import pytest

from etcd3py._proto import kv_pb2, rpc_pb2, v3election_pb2, v3lock_pb2
from tests.conftest import Restartable
from tests.support.backends import RPC_TIMEOUT, Backend, WatchStream, prefix_end

PUT, DELETE = kv_pb2.Event.PUT, kv_pb2.Event.DELETE
UNKNOWN = grpc.StatusCode.UNKNOWN
WAIT = 0.5  # deadline of calls that are meant to wait in vain
SESSION_TTL = 60  # the TTL of the lease etcd grants when a request brings none


def key_of(name: bytes, lease: int) -> bytes:
    return name + b"/%x" % lease


def lock(backend: Backend, name: bytes, lease: int) -> v3lock_pb2.LockResponse:
    return backend.lock.Lock(v3lock_pb2.LockRequest(name=name, lease=lease), timeout=RPC_TIMEOUT)


def lock_later(backend: Backend, name: bytes, lease: int) -> grpc.Future:
    return backend.lock.Lock.future(
        v3lock_pb2.LockRequest(name=name, lease=lease), timeout=RPC_TIMEOUT
    )


def unlock(backend: Backend, key: bytes) -> v3lock_pb2.UnlockResponse:
    return backend.lock.Unlock(v3lock_pb2.UnlockRequest(key=key), timeout=RPC_TIMEOUT)


def campaign_request(name: bytes, lease: int, value: bytes) -> v3election_pb2.CampaignRequest:
    return v3election_pb2.CampaignRequest(name=name, lease=lease, value=value)


def campaign(
    backend: Backend, name: bytes, lease: int, value: bytes = b""
) -> v3election_pb2.CampaignResponse:
    return backend.election.Campaign(campaign_request(name, lease, value), timeout=RPC_TIMEOUT)


def campaign_later(backend: Backend, name: bytes, lease: int, value: bytes = b"") -> grpc.Future:
    return backend.election.Campaign.future(
        campaign_request(name, lease, value), timeout=RPC_TIMEOUT
    )


def leader(backend: Backend, name: bytes) -> v3election_pb2.LeaderResponse:
    req = v3election_pb2.LeaderRequest(name=name)
    return backend.election.Leader(req, timeout=RPC_TIMEOUT)


def proclaim(
    backend: Backend, key: v3election_pb2.LeaderKey, value: bytes
) -> v3election_pb2.ProclaimResponse:
    req = v3election_pb2.ProclaimRequest(leader=key, value=value)
    return backend.election.Proclaim(req, timeout=RPC_TIMEOUT)


def resign(backend: Backend, key: v3election_pb2.LeaderKey) -> v3election_pb2.ResignResponse:
    return backend.election.Resign(v3election_pb2.ResignRequest(leader=key), timeout=RPC_TIMEOUT)


def revoke(backend: Backend, lease: int) -> rpc_pb2.LeaseRevokeResponse:
    req = rpc_pb2.LeaseRevokeRequest(ID=lease)
    return backend.lease.LeaseRevoke(req, timeout=RPC_TIMEOUT)


def keys_under(backend: Backend, name: bytes) -> list[bytes]:
    kvs = backend.range(name + b"/", range_end=prefix_end(name + b"/")).kvs
    return [kv.key for kv in kvs]


def summary(events: list[kv_pb2.Event]) -> list[tuple[int, bytes, int]]:
    return [(e.type, e.kv.key, e.kv.mod_revision) for e in events]


def raises_go_error(message: str, call: Callable[..., object], *args: object) -> None:
    """etcd hands errors on as plain Go errors: status UNKNOWN with the error's text."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args)
    assert (info.value.code(), info.value.details()) == (UNKNOWN, message)


def assert_deadline(err: grpc.RpcError) -> None:
    """The call's deadline passed. The client's own DEADLINE_EXCEEDED usually wins; now
    and then etcd's answer (its context error, as a Go error) arrives first."""
    if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
        assert (err.code(), err.details()) == (UNKNOWN, "context deadline exceeded")


@pytest.fixture
def queue_watch(watch: WatchStream, prefix: bytes) -> Callable[[bytes], None]:
    """Watch the keys under a name, to see waiters join and leave (no sleeps)."""

    def start(name: bytes) -> None:
        watch.create(name + b"/", range_end=prefix_end(name + b"/"))

    return start


# ---- Lock ----


def test_lock_and_unlock(backend: Backend, prefix: bytes, grant: Callable[..., int]) -> None:
    name, lease = prefix + b"lock", grant()
    got = lock(backend, name, lease)
    assert got.key == key_of(name, lease) and got.header.member_id
    (kv,) = backend.range(got.key).kvs
    assert (kv.create_revision, kv.mod_revision, kv.value, kv.lease) == (
        got.header.revision,
        got.header.revision,
        b"",
        lease,
    )
    released = unlock(backend, got.key)
    assert released.header.revision == got.header.revision + 1
    assert keys_under(backend, name) == []


def test_lock_again_with_the_same_lease_reuses_the_key(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    name, lease = prefix + b"lock", grant()
    first = lock(backend, name, lease)
    again = lock(backend, name, lease)
    assert again.key == first.key
    assert again.header.revision == first.header.revision == backend.revision()  # no write


def test_waiters_get_the_lock_in_turn(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name = prefix + b"lock"
    holder = lock(backend, name, grant())
    queue_watch(name)
    waiters: list[tuple[grpc.Future, bytes]] = []
    for _ in range(3):
        lease = grant()
        future = lock_later(backend, name, lease)
        (joined,) = watch.events(1)  # in the queue: its key exists
        assert (joined.type, joined.kv.key) == (PUT, key_of(name, lease))
        waiters.append((future, joined.kv.key))
    assert not any(future.done() for future, _ in waiters)
    release = holder.key
    for i, (future, key) in enumerate(waiters):
        released = unlock(backend, release).header.revision
        got = future.result(timeout=RPC_TIMEOUT)
        # granted on the release, answered with the revision it saw then
        assert (got.key, got.header.revision) == (key, released)
        assert not any(later.done() for later, _ in waiters[i + 1 :])
        release = key
    unlock(backend, release)


def test_revoking_the_holders_lease_hands_the_lock_over(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name, holder_lease, waiter_lease = prefix + b"lock", grant(), grant()
    lock(backend, name, holder_lease)
    queue_watch(name)
    future = lock_later(backend, name, waiter_lease)
    watch.events(1)
    revoked = revoke(backend, holder_lease).header.revision
    got = future.result(timeout=RPC_TIMEOUT)
    assert (got.key, got.header.revision) == (key_of(name, waiter_lease), revoked)


def test_a_waiter_that_gives_up_deletes_its_key(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name = prefix + b"lock"
    holder = lock(backend, name, grant())
    queue_watch(name)
    lease = grant()
    key = key_of(name, lease)
    with pytest.raises(grpc.RpcError) as info:
        backend.lock.Lock(v3lock_pb2.LockRequest(name=name, lease=lease), timeout=WAIT)
    assert_deadline(info.value)
    start = holder.header.revision
    assert summary(watch.events(2)) == [(PUT, key, start + 1), (DELETE, key, start + 2)]

    future = lock_later(backend, name, lease)  # a cancelled waiter leaves too
    watch.events(1)
    future.cancel()
    assert summary(watch.events(1)) == [(DELETE, key, start + 4)]
    assert keys_under(backend, name) == [holder.key]


def test_a_crash_leaves_the_waiters_in_the_queue(restartable: Restartable, prefix: bytes) -> None:
    """Only a caller that gives up leaves the queue: a member that dies cleans nothing up."""
    name = prefix + b"lock"
    backend = Backend(restartable.kind, restartable.endpoint)
    try:
        holder, waiter = backend.grant(60).ID, backend.grant(60).ID
        lock(backend, name, holder)
        future = lock_later(backend, name, waiter)
        watch = backend.open_watch()
        try:
            watch.create(key_of(name, waiter), start_revision=1)
            watch.events(1)
        finally:
            watch.close()
        restartable.kill()
        with pytest.raises(grpc.RpcError):
            future.result(timeout=RPC_TIMEOUT)
    finally:
        backend.close()
    restartable.revive()
    backend = Backend(restartable.kind, restartable.endpoint)
    try:
        assert keys_under(backend, name) == [key_of(name, holder), key_of(name, waiter)]
        # the lease still holds its place: locking with it again waits behind the holder
        with pytest.raises(grpc.RpcError) as info:
            backend.lock.Lock(v3lock_pb2.LockRequest(name=name, lease=waiter), timeout=WAIT)
        assert_deadline(info.value)
    finally:
        backend.close()


def test_a_waiter_whose_lease_goes_is_told_its_session_expired(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name, waiter_lease = prefix + b"lock", grant()
    holder = lock(backend, name, grant())
    queue_watch(name)
    future = lock_later(backend, name, waiter_lease)
    watch.events(1)
    revoke(backend, waiter_lease)
    watch.events(1)  # its key is gone, yet it waits for the holder (as Go's Mutex does)
    assert not future.done()
    unlock(backend, holder.key)
    raises_go_error("mutex: session is expired", future.result, RPC_TIMEOUT)


def test_a_lock_without_a_lease_gets_a_session_lease(backend: Backend, prefix: bytes) -> None:
    name = prefix + b"lock"
    got = lock(backend, name, 0)
    lease = int(got.key.rsplit(b"/", 1)[1], 16)
    try:
        assert got.key == key_of(name, lease)
        req = rpc_pb2.LeaseTimeToLiveRequest(ID=lease, keys=True)
        ttl = backend.lease.LeaseTimeToLive(req, timeout=RPC_TIMEOUT)
        assert ttl.grantedTTL == SESSION_TTL and list(ttl.keys) == [got.key]
        (kv,) = backend.range(got.key).kvs
        assert (kv.lease, kv.create_revision) == (lease, got.header.revision)
    finally:
        revoke(backend, lease)


def test_an_empty_name_locks_under_slash(
    backend: Backend, grant: Callable[..., int], watch: WatchStream
) -> None:
    lease = grant()
    key = key_of(b"", lease)
    assert key == b"/%x" % lease
    watch.create(key)
    # "/" is shared with every other test's keys, so this lock may well wait
    future = lock_later(backend, b"", lease)
    try:
        (joined,) = watch.events(1)
        assert (joined.type, joined.kv.key, joined.kv.lease) == (PUT, key, lease)
    finally:
        future.cancel()
        unlock(backend, key)


def test_lock_errors(backend: Backend, prefix: bytes) -> None:
    rev = backend.revision()
    raises_go_error(
        "etcdserver: requested lease not found", lock, backend, prefix + b"lock", 0x7E57
    )
    raises_go_error("etcdserver: key is not provided", unlock, backend, b"")
    assert unlock(backend, prefix + b"nope").header.revision == rev  # nothing to delete
    assert backend.revision() == rev


# ---- Election ----


def test_campaign_leader_proclaim_resign(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    name, lease = prefix + b"election", grant()
    won = campaign(backend, name, lease, b"v1")
    rev = won.header.revision
    assert won.leader == v3election_pb2.LeaderKey(
        name=name, key=key_of(name, lease), rev=rev, lease=lease
    )
    now = leader(backend, name)
    assert now.header.revision == rev
    assert (now.kv.key, now.kv.value, now.kv.version, now.kv.create_revision, now.kv.lease) == (
        won.leader.key,
        b"v1",
        1,
        rev,
        lease,
    )

    assert proclaim(backend, won.leader, b"v2").header.revision == rev + 1
    now = leader(backend, name)
    assert (now.header.revision, now.kv.value, now.kv.version) == (rev + 1, b"v2", 2)

    assert resign(backend, won.leader).header.revision == rev + 2
    assert keys_under(backend, name) == []
    raises_go_error("election: no leader", leader, backend, name)


def test_campaign_again_with_the_same_lease_proclaims(
    backend: Backend, prefix: bytes, grant: Callable[..., int]
) -> None:
    name, lease = prefix + b"election", grant()
    first = campaign(backend, name, lease, b"v1")
    again = campaign(backend, name, lease, b"v2")
    assert again.leader == first.leader
    # answered with the header of its first read, made before the value was proclaimed
    assert again.header.revision == first.header.revision
    now = leader(backend, name)
    assert (now.header.revision, now.kv.value, now.kv.version) == (
        first.header.revision + 1,
        b"v2",
        2,
    )
    same = campaign(backend, name, lease, b"v2")  # same value: nothing written
    assert same.header.revision == backend.revision() == first.header.revision + 1


def test_a_contended_campaign_wins_when_the_leader_resigns(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name, first_lease, second_lease = prefix + b"election", grant(), grant()
    first = campaign(backend, name, first_lease, b"a")
    queue_watch(name)
    future = campaign_later(backend, name, second_lease, b"b")
    (joined,) = watch.events(1)
    assert not future.done()
    resign(backend, first.leader)
    won = future.result(timeout=RPC_TIMEOUT)
    # Go's Election answers with the header of its own put, not of the moment it won
    assert won.header.revision == joined.kv.mod_revision == first.header.revision + 1
    assert won.leader == v3election_pb2.LeaderKey(
        name=name, key=key_of(name, second_lease), rev=joined.kv.create_revision, lease=second_lease
    )
    assert leader(backend, name).kv.value == b"b"


def test_a_campaign_whose_lease_goes_still_returns(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name, second_lease = prefix + b"election", grant()
    first = campaign(backend, name, grant(), b"a")
    queue_watch(name)
    future = campaign_later(backend, name, second_lease, b"b")
    (joined,) = watch.events(1)
    revoke(backend, second_lease)
    watch.events(1)
    assert not future.done()
    resign(backend, first.leader)
    # Go's Election does not look at its own key after the wait
    won = future.result(timeout=RPC_TIMEOUT)
    assert (won.leader.key, won.header.revision) == (joined.kv.key, joined.kv.mod_revision)
    raises_go_error("election: no leader", leader, backend, name)


def test_a_campaign_that_gives_up_deletes_its_key(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name, lease = prefix + b"election", grant()
    first = campaign(backend, name, grant(), b"a")
    queue_watch(name)
    key = key_of(name, lease)
    with pytest.raises(grpc.RpcError) as info:
        backend.election.Campaign(campaign_request(name, lease, b"b"), timeout=WAIT)
    assert_deadline(info.value)
    start = first.header.revision
    assert summary(watch.events(2)) == [(PUT, key, start + 1), (DELETE, key, start + 2)]

    future = campaign_later(backend, name, lease, b"b")
    watch.events(1)
    future.cancel()
    assert summary(watch.events(1)) == [(DELETE, key, start + 4)]
    assert keys_under(backend, name) == [first.leader.key]


def test_a_campaign_without_a_lease_gets_a_session_lease(backend: Backend, prefix: bytes) -> None:
    name = prefix + b"election"
    won = campaign(backend, name, 0, b"v")
    lease = won.leader.lease
    try:
        assert lease and won.leader.key == key_of(name, lease)
        req = rpc_pb2.LeaseTimeToLiveRequest(ID=lease)
        assert backend.lease.LeaseTimeToLive(req, timeout=RPC_TIMEOUT).grantedTTL == SESSION_TTL
    finally:
        revoke(backend, lease)


def test_election_errors(backend: Backend, prefix: bytes, grant: Callable[..., int]) -> None:
    name, lease = prefix + b"election", grant()
    raises_go_error("election: no leader", leader, backend, name)
    raises_go_error("etcdserver: requested lease not found", campaign, backend, name, 0x7E57, b"v")
    missing = '"leader" field must be provided'
    raises_go_error(missing, backend.election.Proclaim, v3election_pb2.ProclaimRequest(value=b"v"))
    raises_go_error(missing, backend.election.Resign, v3election_pb2.ResignRequest())

    won = campaign(backend, name, lease, b"v")
    stale = v3election_pb2.LeaderKey()
    stale.CopyFrom(won.leader)
    stale.rev += 1
    raises_go_error("election: not leader", proclaim, backend, stale, b"w")
    rev = backend.revision()
    assert resign(backend, stale).header.revision == rev  # not the leader: nothing happens
    assert leader(backend, name).kv.value == b"v"
    empty = v3election_pb2.LeaderKey(name=name, rev=won.leader.rev, lease=lease)
    raises_go_error("etcdserver: key is not provided", proclaim, backend, empty, b"w")


class Observer:
    """An Observe stream read by a thread, so that each response is awaited with a timeout."""

    def __init__(self, backend: Backend, name: bytes, timeout: float = RPC_TIMEOUT) -> None:
        req = v3election_pb2.LeaderRequest(name=name)
        self._call = backend.election.Observe(req, timeout=timeout)
        self._responses: queue.Queue[v3election_pb2.LeaderResponse | BaseException] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for resp in self._call:
                self._responses.put(resp)
            self._responses.put(EOFError("observe stream ended"))
        except BaseException as err:
            self._responses.put(err)

    def next(self) -> tuple[int, bytes, bytes, int]:
        """The next response as (header revision, key, value, version)."""
        item = self._responses.get(timeout=RPC_TIMEOUT)
        if isinstance(item, BaseException):
            raise item
        return (item.header.revision, item.kv.key, item.kv.value, item.kv.version)

    def close(self) -> None:
        self._call.cancel()
        self._reader.join(RPC_TIMEOUT)


@pytest.fixture
def observe(backend: Backend) -> Iterator[Callable[..., Observer]]:
    opened: list[Observer] = []

    def _observe(name: bytes, timeout: float = RPC_TIMEOUT) -> Observer:
        opened.append(Observer(backend, name, timeout))
        return opened[-1]

    yield _observe
    for observer in opened:
        observer.close()


def test_observe_follows_the_leader(
    backend: Backend,
    prefix: bytes,
    grant: Callable[..., int],
    observe: Callable[..., Observer],
    watch: WatchStream,
    queue_watch: Callable[[bytes], None],
) -> None:
    name, a, b, c = prefix + b"election", grant(), grant(), grant()
    observer = observe(name)  # no leader yet: it waits for the first one
    first = campaign(backend, name, a, b"a1")
    rev = first.header.revision
    assert observer.next() == (rev, key_of(name, a), b"a1", 1)

    queue_watch(name)
    second = campaign_later(backend, name, b, b"b1")  # a waiting candidate is not news
    watch.events(1)
    assert proclaim(backend, first.leader, b"a2").header.revision == rev + 2
    assert observer.next() == (rev + 2, key_of(name, a), b"a2", 2)

    assert resign(backend, first.leader).header.revision == rev + 3
    # the next leader, with the revision of the moment it was found
    assert observer.next() == (rev + 3, key_of(name, b), b"b1", 1)
    won = second.result(timeout=RPC_TIMEOUT)
    assert proclaim(backend, won.leader, b"b2").header.revision == rev + 4
    assert observer.next() == (rev + 4, key_of(name, b), b"b2", 2)

    # the leader leaves with no one waiting: the next key put under the name is news
    resign(backend, won.leader)
    backend.put(prefix + b"elsewhere")
    third = campaign(backend, name, c, b"c1")
    assert observer.next() == (third.header.revision, key_of(name, c), b"c1", 1)
    assert third.header.revision == rev + 7

    # a new observer starts with the leader, at the current revision
    backend.put(prefix + b"elsewhere")
    assert observe(name).next() == (rev + 8, key_of(name, c), b"c1", 1)


def test_observe_waits_while_there_is_no_leader(
    prefix: bytes, observe: Callable[..., Observer]
) -> None:
    observer = observe(prefix + b"election", timeout=WAIT)
    with pytest.raises(grpc.RpcError) as info:
        observer.next()
    assert_deadline(info.value)
