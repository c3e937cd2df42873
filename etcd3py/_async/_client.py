"""The client: the whole etcd v3 API.

The async face (AsyncClient, on grpc.aio) is the source; the sync face (Client, on
grpc's sync stubs, no thread hop per call) is generated from it by scripts/unasync.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, cast

from .. import _check
from .. import _etcd_errors as E
from .. import _methods as M
from .._config import DEFAULT_TIMEOUT, make_config, parse_endpoint
from .._keys import KeyLike, key_range, to_bytes, to_key
from .._migration import missing
from .._namespace import Namespace
from .._once import OnceResult
from .._proto import auth_pb2, rpc_pb2, v3election_pb2, v3lock_pb2
from .._requests import (
    LeaseArg,
    delete_request,
    existing_lease,
    leader_key,
    put_request,
    range_request,
    required_lease,
    urls,
)
from .._txn import Compare, Operation, Put, txn_request
from .._types import (
    Alarm,
    AlarmType,
    DeleteResponse,
    Event,
    GetResponse,
    KeyPermission,
    KeyValue,
    LeaderKey,
    LeaseInfo,
    LockResponse,
    Member,
    Permission,
    PutResponse,
    Status,
    TxnResponse,
)
from ..errors import ArgumentError, ArgumentTypeError, ElectionNoLeaderError, LeaseNotFoundError
from ._lease import AsyncKeepAliveManager, AsyncLease
from ._observe import AsyncElectionObserver
from ._once import AsyncOnceWriter
from ._primitives import AsyncTask, sleep, spawn
from ._transport import AsyncTransport
from ._watch import DEFAULT_BUFFER, AsyncWatch, AsyncWatchManager, watch_create_request

log = logging.getLogger("etcd3py")


class AsyncClient:
    """A client of an etcd v3 cluster.

    ``endpoints`` is one endpoint or a list (``host:port``, ``http://``, ``https://``,
    ``unix://``). Calls go to the endpoints by ``lb_policy`` (``round_robin`` or
    ``pick_first``) and fail over when one dies. ``timeout`` is the default deadline
    of a call, in seconds; every method takes ``timeout=`` to override it.
    ``ordering=True`` guards reads against going back in time: a read answered at a
    revision below one the client has already seen (a lagging member, read with
    ``serializable=True``) is asked again elsewhere, and StaleReadError is raised when
    no member is current enough within the deadline.
    """

    def __init__(
        self,
        endpoints: str | list[str] | tuple[str, ...] = "127.0.0.1:2379",
        *,
        lb_policy: str = "round_robin",
        timeout: float = DEFAULT_TIMEOUT,
        username: str | None = None,
        password: str | None = None,
        ca_cert: str | Path | None = None,
        cert_cert: str | Path | None = None,
        cert_key: str | Path | None = None,
        keepalive_time: float | None = None,
        keepalive_timeout: float | None = None,
        auto_sync_interval: float | None = None,
        require_leader: bool = False,
        watch_buffer: int = DEFAULT_BUFFER,
        ordering: bool = False,
    ) -> None:
        self.config = make_config(
            endpoints,
            lb_policy=lb_policy,
            timeout=timeout,
            username=username,
            password=password,
            ca_cert=ca_cert,
            cert_cert=cert_cert,
            cert_key=cert_key,
            keepalive_time=keepalive_time,
            keepalive_timeout=keepalive_timeout,
            auto_sync_interval=auto_sync_interval,
            require_leader=require_leader,
            ordering=ordering,
        )
        watch_buffer = _check.integer(watch_buffer, "watch_buffer", 2, 1 << 20)
        self._transport = AsyncTransport(self.config)
        self._keepalive = AsyncKeepAliveManager(self._transport)
        self._watches = AsyncWatchManager(self._transport, watch_buffer)
        self._sync_task: AsyncTask | None = None
        self._once = AsyncOnceWriter(self)
        self._namespace: Namespace | None = None  # set in a view made by namespace()
        # every unary call of the client goes through _call: the transport's own (no
        # extra frame in tracebacks), or in a view the translating one
        self._call = self._transport.call
        if self.config.auto_sync_interval:
            self._transport.on_first_call = self._start_auto_sync

    def __repr__(self) -> str:
        shown = ",".join(e.display for e in self.config.endpoints)
        return f"<{type(self).__name__} {shown}>"

    if not TYPE_CHECKING:  # (type checkers keep reporting unknown names as errors)

        def __getattr__(self, name: str) -> Any:
            """Only for missing names: point python-etcd3/aetcd habits to our calls."""
            raise missing(self, name)

    @property
    def endpoints(self) -> list[str]:
        """The endpoints in use (auto-sync may change them)."""
        return [c.endpoint.display for c in self._transport.connections]

    async def __aenter__(self) -> AsyncClient:
        if self._namespace is None:  # a view leaves the connections to its client
            self._transport.on_first_call = None
            self._start_auto_sync()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop keep-alives and watches, and close the connections.

        On a view made by ``namespace()`` this does nothing: the view shares its client's
        connections, watches and keep-alives, and they stay open until the client closes.
        """
        if self._namespace is not None:
            return
        if self._sync_task is not None:
            self._sync_task.cancel()
        await self._watches.close()
        await self._keepalive.close()
        await self._transport.close()

    def namespace(self, prefix: KeyLike) -> AsyncClient:
        """A view of this client in which every key is relative to ``prefix``.

        Keys, ranges, watches, transaction compares and operations, lease key lists and
        the Lock and Election services all work inside the prefix, and every key handed
        back has the prefix stripped; a range cannot leave it (``get("", prefix=True)``
        reads the whole namespace). Views nest (``ns.namespace("a/")``). A view shares
        the client's connections: closing it leaves the client open, and closing the
        client ends the view too. Cluster, maintenance and auth calls are not
        translated. The recipes run unchanged on a view.
        """
        added = to_key(prefix, "prefix")
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._sync_task = None
        view._namespace = Namespace(
            added if self._namespace is None else self._namespace.prefix + added
        )
        view._once = AsyncOnceWriter(view)
        view._call = view._call_in_namespace
        return view

    @property
    def prefix(self) -> bytes:
        """The prefix every key of this view is relative to (b"" for the client itself)."""
        return b"" if self._namespace is None else self._namespace.prefix

    async def _call_in_namespace(
        self,
        method: M.Method,
        request: Any,
        timeout: float | None = None,
        endpoint: str | None = None,
    ) -> Any:
        """A view's ``_call``: the call's keys translated both ways."""
        namespace = self._namespace
        assert namespace is not None
        request = namespace.outbound(method, request)
        response = await self._transport.call(method, request, timeout, endpoint)
        return namespace.inbound(method, response)

    # ---- KV ----

    async def get(
        self,
        key: KeyLike,
        *,
        prefix: bool = False,
        range_end: KeyLike | None = None,
        from_key: bool = False,
        revision: int = 0,
        limit: int = 0,
        sort_target: str | int | None = None,
        sort_order: str | int | None = None,
        serializable: bool = False,
        keys_only: bool = False,
        count_only: bool = False,
        min_mod_revision: int = 0,
        max_mod_revision: int = 0,
        min_create_revision: int = 0,
        max_create_revision: int = 0,
        timeout: float | None = None,
    ) -> GetResponse:
        """Read a key, a prefix (``prefix=True``), a range or every key from one on.

        ``sort_target`` is "key", "version", "create", "mod" or "value";
        ``sort_order`` "ascend" or "descend".
        """
        request = range_request(
            key,
            prefix=prefix,
            range_end=range_end,
            from_key=from_key,
            revision=revision,
            limit=limit,
            sort_target=sort_target,
            sort_order=sort_order,
            serializable=serializable,
            keys_only=keys_only,
            count_only=count_only,
            min_mod_revision=min_mod_revision,
            max_mod_revision=max_mod_revision,
            min_create_revision=min_create_revision,
            max_create_revision=max_create_revision,
        )
        return GetResponse(await self._call(M.RANGE, request, timeout))

    def get_paged(
        self,
        key: KeyLike,
        *,
        prefix: bool = False,
        range_end: KeyLike | None = None,
        from_key: bool = False,
        revision: int = 0,
        page_size: int = 1000,
        keys_only: bool = False,
        serializable: bool = False,
        timeout: float | None = None,
    ) -> AsyncIterator[KeyValue]:
        """The key-values of a range, in key order, read ``page_size`` at a time.

        Memory stays bounded by one page however large the range. Every page is
        read at one revision (``revision``, or the current one when the first page
        is read), so the whole iteration is one consistent snapshot; a compaction
        past that revision before the last page raises CompactedError. ``timeout``
        is the deadline of each page's read. etcd 3.5 counts the rest of the range
        for every page, so over millions of keys a larger ``page_size`` costs it less.
        The arguments are checked here, before anything is read.
        """
        size = _check.integer(page_size, "page_size", minimum=1)
        if prefix or from_key or range_end is not None:
            begin, end = key_range(key, prefix=prefix, range_end=range_end, from_key=from_key)
        else:
            begin, end = to_key(key), b""
        at = _check.revision(revision)
        _check.call_timeout(timeout)
        return self._pages(begin, end, at, size, keys_only, serializable, timeout)

    async def _pages(
        self,
        begin: bytes,
        end: bytes,
        revision: int,
        size: int,
        keys_only: bool,
        serializable: bool,
        timeout: float | None,
    ) -> AsyncIterator[KeyValue]:
        """get_paged's reads: each page starts just after the last key of the one before."""
        while True:
            page = await self.get(
                begin,
                range_end=end or None,
                revision=revision,
                limit=size,
                keys_only=keys_only,
                serializable=serializable,
                timeout=timeout,
            )
            revision = revision or page.header.revision
            for kv in page.kvs:
                yield kv
            if not page.more or not page.kvs:
                return
            begin = page.kvs[-1].key + b"\0"  # the next key after the last one read

    async def put(
        self,
        key: KeyLike,
        value: KeyLike,
        *,
        lease: LeaseArg = None,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
        timeout: float | None = None,
    ) -> PutResponse:
        """Write a key. ``lease`` is a lease id or a Lease; a lost Lease raises LeaseLostError."""
        request = put_request(
            key,
            value,
            lease=lease,
            prev_kv=prev_kv,
            ignore_value=ignore_value,
            ignore_lease=ignore_lease,
        )
        return PutResponse(await self._call(M.PUT, request, timeout))

    async def delete(
        self,
        key: KeyLike,
        *,
        prefix: bool = False,
        range_end: KeyLike | None = None,
        from_key: bool = False,
        prev_kv: bool = False,
        timeout: float | None = None,
    ) -> DeleteResponse:
        """Delete a key, a prefix (``prefix=True``), a range or every key from one on.

        Returns a DeleteResponse: ``deleted`` counts the keys removed (0 is not an error) and, with
        ``prev_kv=True``, ``prev_kvs`` holds their last versions. Like every write it is sent at
        most once: it is repeated only when it provably never left the client.
        """
        request = delete_request(
            key, prefix=prefix, range_end=range_end, from_key=from_key, prev_kv=prev_kv
        )
        return DeleteResponse(await self._call(M.DELETE_RANGE, request, timeout))

    async def txn(
        self,
        compare: list[Compare] | tuple[Compare, ...] = (),
        success: list[Operation] | tuple[Operation, ...] = (),
        failure: list[Operation] | tuple[Operation, ...] = (),
        *,
        timeout: float | None = None,
    ) -> TxnResponse:
        """Apply ``success`` if every comparison holds, else ``failure``, atomically."""
        request = txn_request(compare, success, failure)
        read_only = all(
            op.WhichOneof("request") == "request_range" for op in request.success
        ) and all(op.WhichOneof("request") == "request_range" for op in request.failure)
        method = M.TXN_READ if read_only else M.TXN
        return TxnResponse(await self._call(method, request, timeout))

    async def put_once(
        self,
        key: KeyLike,
        value: KeyLike,
        *,
        lease: LeaseArg = None,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> OnceResult:
        """Write a key exactly once, even across failures whose outcome is unknown.

        A plain ``put`` that fails after its request left raises an error with
        ``outcome_unknown`` set: it may have been applied. ``put_once`` makes the write
        verifiable (a marker key in the same transaction) and repeats it until it knows:
        see ``txn_once``.
        """
        return await self._once.write(
            (), [Put(key, value, lease=lease)], (), timeout, attempt_timeout
        )

    async def txn_once(
        self,
        compare: list[Compare] | tuple[Compare, ...] = (),
        success: list[Operation] | tuple[Operation, ...] = (),
        failure: list[Operation] | tuple[Operation, ...] = (),
        *,
        timeout: float | None = None,
        attempt_timeout: float | None = None,
    ) -> OnceResult:
        """Apply a transaction exactly once, even across failures whose outcome is unknown.

        The transaction also writes a marker key (under ``__etcd3py/once/``, on a lease
        that outlives the call) and is guarded by the marker's absence, so it is repeated
        safely while its outcome is unknown, each attempt within ``attempt_timeout``, the
        whole within ``timeout``. The OnceResult says which branch ran and at which
        revision; its ``response`` is None when the answer was lost and the outcome was
        read back from the marker. Costs a slightly larger transaction (and, now and
        then, a lease grant).
        """
        return await self._once.write(compare, success, failure, timeout, attempt_timeout)

    async def compact(
        self, revision: int, *, physical: bool = False, timeout: float | None = None
    ) -> None:
        """Discard history before ``revision``; ``physical`` waits until it is reclaimed."""
        request = rpc_pb2.CompactionRequest(revision=_check.revision(revision), physical=physical)
        await self._call(M.COMPACT, request, timeout)

    # ---- leases ----

    async def grant(
        self, ttl: int, *, lease_id: int = 0, timeout: float | None = None
    ) -> AsyncLease:
        """Grant a lease of ``ttl`` seconds (etcd raises it to its minimum, 2 s by default).

        The lease is not kept alive: see ``lease()`` or ``keep_alive()``.
        """
        request = rpc_pb2.LeaseGrantRequest(TTL=_check.ttl(ttl), ID=_check.lease_id(lease_id))
        response = await self._call(M.LEASE_GRANT, request, timeout)
        return AsyncLease(response.ID, response.TTL, self._transport, self._namespace)

    async def existing_lease(self, lease_id: int, *, timeout: float | None = None) -> AsyncLease:
        """A Lease for one granted elsewhere (another process, etcdctl), known by its id:
        to renew it (``refresh()``, ``keep_alive()``), follow its loss or revoke it.

        Its ``ttl`` is the granted TTL etcd reports (reading it renews nothing). Raises
        LeaseNotFoundError when etcd does not hold the lease.
        """
        info = await self.time_to_live(_check.integer(lease_id, "lease_id", 1), timeout=timeout)
        if info.ttl == -1:
            missing_lease = E.LEASE_NOT_FOUND
            raise LeaseNotFoundError(
                missing_lease.message, code=missing_lease.code, operation="existing_lease"
            )
        return AsyncLease(info.id, info.granted_ttl, self._transport, self._namespace)

    def keep_alive(self, lease: AsyncLease) -> None:
        """Renew ``lease`` in the background (every TTL/3) until it is revoked or lost."""
        if not isinstance(lease, AsyncLease):
            raise ArgumentTypeError("lease", lease, "a Lease (as grant() returns)")
        self._keepalive.add(lease)

    @contextlib.asynccontextmanager
    async def lease(
        self, ttl: int, *, lease_id: int = 0, timeout: float | None = None
    ) -> AsyncIterator[AsyncLease]:
        """A lease granted, kept alive while the block runs, and revoked after it."""
        granted = await self.grant(ttl, lease_id=lease_id, timeout=timeout)
        self._keepalive.add(granted)
        try:
            yield granted
        finally:
            self._keepalive.remove(granted)
            if not granted.lost:
                await granted.revoke()

    async def revoke(self, lease_id: LeaseArg, *, timeout: float | None = None) -> None:
        """Revoke a lease (an id or a Lease); its keys are deleted."""
        request = rpc_pb2.LeaseRevokeRequest(ID=existing_lease(lease_id, "lease_id"))
        await self._call(M.LEASE_REVOKE, request, timeout)

    async def time_to_live(
        self, lease_id: LeaseArg, *, keys: bool = False, timeout: float | None = None
    ) -> LeaseInfo:
        """The lease's remaining and granted TTL, and with ``keys=True`` its keys.

        A lease etcd does not know is not an error here: its LeaseInfo has ``ttl == -1``.
        """
        request = rpc_pb2.LeaseTimeToLiveRequest(ID=existing_lease(lease_id, "lease_id"), keys=keys)
        return LeaseInfo(await self._call(M.LEASE_TIME_TO_LIVE, request, timeout))

    async def leases(self, *, timeout: float | None = None) -> list[int]:
        """Ids of every lease the cluster holds."""
        request = rpc_pb2.LeaseLeasesRequest()
        response = await self._call(M.LEASE_LEASES, request, timeout)
        return [s.ID for s in response.leases]

    # ---- watch ----

    def watch(
        self,
        key: KeyLike,
        *,
        prefix: bool = False,
        range_end: KeyLike | None = None,
        from_key: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
        filters: tuple[str, ...] | list[str] = (),
        fragment: bool = False,
    ) -> AsyncWatch:
        """A watch on a key or range, from ``start_revision`` (0: from now on).

        ``async with client.watch(key) as watch: async for response in watch: ...``
        ``filters`` may hold "noput" and "nodelete".
        """
        create = watch_create_request(
            key,
            prefix=prefix,
            range_end=range_end,
            from_key=from_key,
            start_revision=start_revision,
            prev_kv=prev_kv,
            progress_notify=progress_notify,
            filters=filters,
            fragment=fragment,
        )
        return self._watches.watch(create, self._namespace)

    async def watch_once(
        self, key: KeyLike, *, timeout: float | None = None, **options: Any
    ) -> Event | None:
        """Wait for the next event on a key or range (``options`` as for ``watch``);
        None when ``timeout`` seconds pass first."""
        timeout = _check.wait_timeout(timeout)
        async with self.watch(key, **options) as watch:
            events = await watch.events(timeout)
        return events[0] if events else None

    async def request_progress(self) -> None:
        """Ask etcd for a progress notification on every watch of this client."""
        await self._watches.request_progress()

    # ---- etcd's Lock and Election services ----
    # The server runs the mutex and election algorithms itself; the recipes Mutex and
    # Election do the same from the client, with sessions and loss detection.

    async def lock(
        self, name: KeyLike, lease: LeaseArg = None, *, timeout: float | None = None
    ) -> LockResponse:
        """Wait (up to ``timeout``) for the lock ``name``, held by ``lease``.

        The lock is the key ``<name>/<lease id hex>`` on that lease: it is held until
        ``unlock(key)`` or until the lease ends. Locking again with the same lease
        returns the same key. A wait that ends early takes the key back. For a lock
        object that keeps its own lease (python-etcd3's ``client.lock(name, ttl)``),
        use ``etcd3py.recipes.Mutex``.
        """
        request = v3lock_pb2.LockRequest(name=to_key(name, "name"), lease=required_lease(lease))
        return LockResponse(await self._call(M.LOCK, request, timeout))

    async def unlock(self, key: KeyLike, *, timeout: float | None = None) -> None:
        """Release a lock taken with ``lock`` (its key is deleted)."""
        request = v3lock_pb2.UnlockRequest(key=to_key(key))
        await self._call(M.UNLOCK, request, timeout)

    async def campaign(
        self, name: KeyLike, value: KeyLike, lease: LeaseArg, *, timeout: float | None = None
    ) -> LeaderKey:
        """Wait (up to ``timeout``) to lead election ``name``, announcing ``value``.

        Candidacy is the key ``<name>/<lease id hex>`` on ``lease``; campaigning again
        with the same lease returns the same LeaderKey and proclaims ``value``.
        """
        request = v3election_pb2.CampaignRequest(
            name=to_key(name, "name"),
            lease=required_lease(lease),
            value=to_bytes(value, "value"),
        )
        leader = (await self._call(M.CAMPAIGN, request, timeout)).leader
        return LeaderKey(leader.name, leader.key, leader.rev, leader.lease)

    async def proclaim(
        self, leader: LeaderKey, value: KeyLike, *, timeout: float | None = None
    ) -> None:
        """Announce a new value as leader; ElectionNotLeaderError if no longer leading."""
        request = v3election_pb2.ProclaimRequest(
            leader=leader_key(leader), value=to_bytes(value, "value")
        )
        await self._call(M.PROCLAIM, request, timeout)

    async def resign(self, leader: LeaderKey, *, timeout: float | None = None) -> None:
        """Give up leadership (nothing happens if it was already lost)."""
        request = v3election_pb2.ResignRequest(leader=leader_key(leader))
        await self._call(M.RESIGN, request, timeout)

    async def election_leader(
        self, name: KeyLike, *, timeout: float | None = None
    ) -> KeyValue | None:
        """The leader's key-value (its value is the last proclaimed), or None."""
        request = v3election_pb2.LeaderRequest(name=to_key(name, "name"))
        try:
            response = await self._call(M.LEADER, request, timeout)
        except ElectionNoLeaderError:
            return None
        return KeyValue(response.kv)

    def observe(self, name: KeyLike) -> AsyncElectionObserver:
        """Follow the leader of election ``name``: each ``get`` returns it when it changes."""
        return AsyncElectionObserver(self._transport, to_key(name, "name"), self._namespace)

    # ---- cluster ----

    async def member_list(self, *, timeout: float | None = None) -> list[Member]:
        """The members of the cluster (learners included), as the answering member knows them."""
        response = await self._call(M.MEMBER_LIST, rpc_pb2.MemberListRequest(), timeout)
        return [Member(m) for m in response.members]

    async def member_add(
        self, peer_urls: list[str], *, learner: bool = False, timeout: float | None = None
    ) -> Member:
        """Add a member by its peer URLs (``learner=True``: as a non-voting learner); return it.

        The new member must then be started with the cluster's configuration. Adding a voter changes
        the quorum at once: etcd refuses (MemberNotEnoughStartedError) when that would leave too few
        members started.
        """
        request = rpc_pb2.MemberAddRequest(peerURLs=urls(peer_urls), isLearner=learner)
        return Member((await self._call(M.MEMBER_ADD, request, timeout)).member)

    async def member_remove(self, member_id: int, *, timeout: float | None = None) -> None:
        """Remove the member ``member_id`` (MemberNotFoundError if there is none)."""
        request = rpc_pb2.MemberRemoveRequest(ID=_check.member_id(member_id))
        await self._call(M.MEMBER_REMOVE, request, timeout)

    async def member_update(
        self, member_id: int, peer_urls: list[str], *, timeout: float | None = None
    ) -> None:
        """Replace the peer URLs of the member ``member_id``."""
        request = rpc_pb2.MemberUpdateRequest(
            ID=_check.member_id(member_id), peerURLs=urls(peer_urls)
        )
        await self._call(M.MEMBER_UPDATE, request, timeout)

    async def member_promote(self, member_id: int, *, timeout: float | None = None) -> None:
        """Make the learner ``member_id`` a voting member.

        etcd refuses until the learner has caught up with the leader (LearnerNotReadyError) and for
        a member that is not a learner (MemberNotLearnerError).
        """
        request = rpc_pb2.MemberPromoteRequest(ID=_check.member_id(member_id))
        await self._call(M.MEMBER_PROMOTE, request, timeout)

    async def sync_endpoints(self, *, timeout: float | None = None) -> list[str]:
        """Use the client URLs of the current members as endpoints; return them."""
        members = await self.member_list(timeout=timeout)
        tls = self.config.tls
        urls = [u for m in members if not m.is_learner for u in m.client_urls]
        if urls:
            await self._transport.set_endpoints([parse_endpoint(u, tls) for u in urls])
        return self.endpoints

    def _start_auto_sync(self) -> None:
        if self.config.auto_sync_interval and self._sync_task is None:
            self._sync_task = spawn(self._auto_sync, name="etcd3py-auto-sync")

    async def _auto_sync(self) -> None:
        interval = self.config.auto_sync_interval or 0.0
        while not self._transport.closed:
            await sleep(interval)
            try:
                await self.sync_endpoints()
            except Exception as err:
                log.debug("endpoint auto-sync failed: %s", err)

    # ---- maintenance ----

    async def status(self, endpoint: str | None = None, *, timeout: float | None = None) -> Status:
        """Status of one member (``endpoint``, or the next one)."""
        request = rpc_pb2.StatusRequest()
        return Status(await self._call(M.STATUS, request, timeout, endpoint))

    async def alarms(self, *, timeout: float | None = None) -> list[Alarm]:
        """The alarms raised on the cluster's members (empty when all is well).

        NOSPACE means the database reached its quota and writes that add data are refused
        (NoSpaceError) until space is freed (compact, defragment) and the alarm is disarmed.
        """
        request = rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.GET, alarm=rpc_pb2.NONE)
        response = await self._call(M.ALARM, request, timeout)
        return [Alarm(a.memberID, AlarmType(a.alarm)) for a in response.alarms]

    async def disarm(
        self,
        alarm: AlarmType | int = AlarmType.NOSPACE,
        member_id: int = 0,
        *,
        timeout: float | None = None,
    ) -> list[Alarm]:
        """Clear an alarm raised on ``member_id`` (0: every member that has it)."""
        alarm = _alarm_type(alarm)
        member_id = _check.integer(member_id, "member_id", 0, _check.MAX_UINT64)
        cleared: list[Alarm] = []
        targets = [a for a in await self.alarms(timeout=timeout) if a.alarm == alarm]
        for raised in targets:
            if member_id and raised.member_id != member_id:
                continue
            request = rpc_pb2.AlarmRequest(
                action=rpc_pb2.AlarmRequest.DEACTIVATE,
                memberID=raised.member_id,
                alarm=cast(Any, int(alarm)),
            )
            response = await self._call(M.ALARM, request, timeout)
            cleared.extend(Alarm(a.memberID, AlarmType(a.alarm)) for a in response.alarms)
        return cleared

    async def defragment(
        self, endpoint: str | None = None, *, timeout: float | None = None
    ) -> None:
        """Defragment one member's database (``endpoint``, or the next one), returning space to the
        file system.

        The member serves nothing while it defragments: do one member at a time.
        """
        request = rpc_pb2.DefragmentRequest()
        await self._call(M.DEFRAGMENT, request, timeout, endpoint)

    async def hash_kv(
        self, revision: int = 0, endpoint: str | None = None, *, timeout: float | None = None
    ) -> int:
        """A hash of one member's key-value history up to ``revision`` (0: the latest).

        Equal on members that applied the same history and compaction, so comparing members at
        one revision detects corruption. server_ref computes it as etcd 3.5.1 does, so its
        hashes compare with etcd's too. A revision at or below the compaction point raises
        CompactedError (unlike a read, which may name the compaction revision itself).
        """
        request = rpc_pb2.HashKVRequest(revision=_check.revision(revision))
        return int((await self._call(M.HASH_KV, request, timeout, endpoint)).hash)

    async def snapshot(self, fileobj: IO[bytes], *, endpoint: str | None = None) -> int:
        """Stream a snapshot of the backend into ``fileobj``; return the bytes written."""
        if not callable(getattr(fileobj, "write", None)):
            raise ArgumentTypeError("fileobj", fileobj, "a binary file open for writing")
        written = 0
        call = self._transport.server_stream(M.SNAPSHOT, rpc_pb2.SnapshotRequest(), endpoint)
        async for chunk in call:
            fileobj.write(chunk.blob)
            written += len(chunk.blob)
        return written

    async def move_leader(self, member_id: int, *, timeout: float | None = None) -> None:
        """Hand leadership to ``member_id`` (must be sent to the current leader)."""
        member_id = _check.member_id(member_id)
        leader = None
        for conn in self._transport.connections:
            with contextlib.suppress(Exception):
                status = await self.status(conn.endpoint.display, timeout=timeout)
                if status.leader == status.member_id:
                    leader = conn.endpoint.display
                    break
        request = rpc_pb2.MoveLeaderRequest(targetID=member_id)
        await self._call(M.MOVE_LEADER, request, timeout, leader)

    # ---- auth ----

    async def auth_enable(self, *, timeout: float | None = None) -> None:
        """Turn authentication on.

        etcd requires a user ``root`` with the role ``root`` first (RootUserNotExistError,
        RootRoleNotExistError). From then on every request needs credentials: create the client with
        ``username`` and ``password``.
        """
        await self._call(M.AUTH_ENABLE, rpc_pb2.AuthEnableRequest(), timeout)

    async def auth_disable(self, *, timeout: float | None = None) -> None:
        """Turn authentication off (only root may)."""
        await self._call(M.AUTH_DISABLE, rpc_pb2.AuthDisableRequest(), timeout)

    async def auth_status(self, *, timeout: float | None = None) -> bool:
        """Whether authentication is enabled."""
        response = await self._call(M.AUTH_STATUS, rpc_pb2.AuthStatusRequest(), timeout)
        return bool(response.enabled)

    async def user_add(
        self, name: str, password: str | None, *, timeout: float | None = None
    ) -> None:
        """Add a user; ``password=None`` makes a user that can only use certificates."""
        request = rpc_pb2.AuthUserAddRequest(
            name=_check.text(name, "name"),
            password=password
            if password is None
            else _check.text(password, "password", empty=True) or "",
            options=auth_pb2.UserAddOptions(no_password=password is None),
        )
        await self._call(M.USER_ADD, request, timeout)

    async def user_get(self, name: str, *, timeout: float | None = None) -> list[str]:
        """The roles of a user."""
        request = rpc_pb2.AuthUserGetRequest(name=_check.text(name, "name"))
        return list((await self._call(M.USER_GET, request, timeout)).roles)

    async def user_list(self, *, timeout: float | None = None) -> list[str]:
        """The names of every user."""
        response = await self._call(M.USER_LIST, rpc_pb2.AuthUserListRequest(), timeout)
        return list(response.users)

    async def user_delete(self, name: str, *, timeout: float | None = None) -> None:
        """Delete a user (UserNotFoundError if there is none)."""
        request = rpc_pb2.AuthUserDeleteRequest(name=_check.text(name, "name"))
        await self._call(M.USER_DELETE, request, timeout)

    async def user_change_password(
        self, name: str, password: str, *, timeout: float | None = None
    ) -> None:
        """Set a user's password; etcd drops the user's simple tokens (JWTs live on)."""
        request = rpc_pb2.AuthUserChangePasswordRequest(
            name=_check.text(name, "name"), password=_check.text(password, "password", empty=True)
        )
        await self._call(M.USER_CHANGE_PASSWORD, request, timeout)

    async def user_grant_role(self, user: str, role: str, *, timeout: float | None = None) -> None:
        """Give ``user`` the role ``role`` (both must exist)."""
        request = rpc_pb2.AuthUserGrantRoleRequest(
            user=_check.text(user, "user"), role=_check.text(role, "role")
        )
        await self._call(M.USER_GRANT_ROLE, request, timeout)

    async def user_revoke_role(self, user: str, role: str, *, timeout: float | None = None) -> None:
        """Take the role ``role`` from ``user`` (RoleNotGrantedError if it had none)."""
        request = rpc_pb2.AuthUserRevokeRoleRequest(
            name=_check.text(user, "user"), role=_check.text(role, "role")
        )
        await self._call(M.USER_REVOKE_ROLE, request, timeout)

    async def role_add(self, name: str, *, timeout: float | None = None) -> None:
        """Create a role without permissions."""
        request = rpc_pb2.AuthRoleAddRequest(name=_check.text(name, "name"))
        await self._call(M.ROLE_ADD, request, timeout)

    async def role_get(self, name: str, *, timeout: float | None = None) -> list[KeyPermission]:
        """The permissions of a role."""
        request = rpc_pb2.AuthRoleGetRequest(role=_check.text(name, "name"))
        response = await self._call(M.ROLE_GET, request, timeout)
        return [KeyPermission(Permission(p.permType), p.key, p.range_end) for p in response.perm]

    async def role_list(self, *, timeout: float | None = None) -> list[str]:
        """The names of every role."""
        response = await self._call(M.ROLE_LIST, rpc_pb2.AuthRoleListRequest(), timeout)
        return list(response.roles)

    async def role_delete(self, name: str, *, timeout: float | None = None) -> None:
        """Delete a role; users that had it lose its permissions."""
        request = rpc_pb2.AuthRoleDeleteRequest(role=_check.text(name, "name"))
        await self._call(M.ROLE_DELETE, request, timeout)

    async def role_grant_permission(
        self,
        role: str,
        key: KeyLike,
        *,
        range_end: KeyLike | None = None,
        prefix: bool = False,
        perm: Permission | int = Permission.READWRITE,
        timeout: float | None = None,
    ) -> None:
        """Let ``role`` read, write or both (``perm``) a key, a prefix or a range.

        ``prefix=True`` grants every key starting with ``key``; ``range_end`` grants ``[key,
        range_end)``.
        """
        begin, end = key_range(key, prefix=prefix, range_end=range_end)
        request = rpc_pb2.AuthRoleGrantPermissionRequest(
            name=_check.text(role, "role"),
            perm=auth_pb2.Permission(permType=_permission(perm), key=begin, range_end=end),
        )
        await self._call(M.ROLE_GRANT_PERMISSION, request, timeout)

    async def role_revoke_permission(
        self,
        role: str,
        key: KeyLike,
        *,
        range_end: KeyLike | None = None,
        prefix: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Take back the permission ``role`` has over exactly this key, prefix or range."""
        begin, end = key_range(key, prefix=prefix, range_end=range_end)
        request = rpc_pb2.AuthRoleRevokePermissionRequest(
            role=_check.text(role, "role"), key=begin, range_end=end
        )
        await self._call(M.ROLE_REVOKE_PERMISSION, request, timeout)


def _alarm_type(alarm: object) -> AlarmType:
    if isinstance(alarm, bool) or not isinstance(alarm, int):
        raise ArgumentTypeError("alarm", alarm, "an AlarmType")
    try:
        return AlarmType(alarm)
    except ValueError:
        raise ArgumentError("alarm", alarm, "an AlarmType") from None


def _permission(perm: object) -> Any:
    if isinstance(perm, bool) or not isinstance(perm, int):
        raise ArgumentTypeError("perm", perm, "a Permission")
    try:
        return int(Permission(perm))
    except ValueError:
        raise ArgumentError("perm", perm, "a Permission") from None
