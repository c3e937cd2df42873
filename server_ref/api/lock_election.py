"""The Lock and Election services (etcd's v3lock and v3election servers).

etcd serves both by running its Go client's concurrency package (Mutex, Election)
against itself through an in-process client, on a session made on the request's
lease and orphaned at once. Their behaviour is that recipe's, step by step, so this
module replays the same steps on the member's own KV and Lease services:

- a lease of 0 makes the session grant a 60 s lease that nobody keeps alive;
- the key is "<name>/<lease id in hex>", created by a Txn only if it does not exist,
  so a second Lock or Campaign on the same lease reuses it;
- the holder (leader) is the key under "<name>/" with the lowest create revision; a
  waiter waits until every key created before its own is deleted;
- a waiting Lock or Campaign that is given up (cancel, deadline) deletes its key;
- every error, etcd's own included, reaches the caller as a plain Go error does:
  status UNKNOWN with the error's text.

Both run on ``InProcessClient`` (v3client.py): the KV checks and the server's write
and read paths, as the KV service uses them. Waits are woken by the store's commit
notifications, as watches are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc

from etcd3py import _etcd_errors as E
from etcd3py._keys import prefix_end
from etcd3py._proto import kv_pb2, rpc_pb2, v3election_pb2, v3lock_pb2

from ..errors import ServerError
from ..mvcc.store import Version, fill_kv
from .handlers import serve_as, unary
from .v3client import InProcessClient

SESSION_TTL = 60  # concurrency.NewSession's default TTL


_R = rpc_pb2.RangeRequest
_C = rpc_pb2.Compare


def _key(prefix: bytes, lease: int) -> bytes:
    return prefix + b"%x" % lease  # Go's %x: lowercase, no padding, "-" if negative


def _created(key: bytes, rev: int) -> rpc_pb2.Compare:
    return _C(key=key, target=_C.CREATE, result=_C.EQUAL, create_revision=rev)


def _put(key: bytes, value: bytes, lease: int) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, lease=lease))


def _get(key: bytes, **kw: Any) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_range=_R(key=key, **kw))


def _oldest(prefix: bytes) -> dict[str, Any]:
    """Range options for the first-created key under ``prefix`` (Go's WithFirstCreate)."""
    return {
        "range_end": prefix_end(prefix),
        "sort_target": _R.CREATE,
        "sort_order": _R.ASCEND,
        "limit": 1,
    }


def _kv(v: Version) -> kv_pb2.KeyValue:
    out = kv_pb2.KeyValue()
    fill_kv(out, v)
    return out


async def _session(c: InProcessClient, lease: int) -> int:
    """The session's lease: the one given, or (for 0) a new one of 60 s."""
    return lease if lease != 0 else await c.grant(SESSION_TTL)


async def _wait_deletes(c: InProcessClient, prefix: bytes, max_create_rev: int) -> None:
    """Wait until no key under ``prefix`` was created at or before ``max_create_rev``.

    Go's waitDeletes: wait for the newest such key to go, then look again. Only that
    key is checked at each commit, so a long queue of waiters stays cheap.
    """
    options = {**_oldest(prefix), "sort_order": _R.DESCEND, "max_create_revision": max_create_rev}
    with c.changes() as changed:
        while kvs := (await c.range(prefix, **options)).kvs:
            key, create_rev = kvs[0].key, kvs[0].create_revision
            while True:
                changed.clear()  # before looking: a commit while we look wakes us
                if not await _alive(c, key, create_rev):
                    break
                await changed.wait()


async def _alive(c: InProcessClient, key: bytes, create_rev: int) -> bool:
    """Whether the key made at ``create_rev`` was not deleted since (deleting and
    re-creating it gives it a new create revision)."""
    now = (await c.range(key)).kvs
    return bool(now) and now[0].create_revision == create_rev


class LockService:
    """v3lockpb.Lock: concurrency.Mutex on a session of the request's lease."""

    def __init__(self, client: InProcessClient) -> None:
        self._c = client

    @unary
    async def Lock(self, r: v3lock_pb2.LockRequest) -> v3lock_pb2.LockResponse:
        c = self._c
        lease = await _session(c, r.lease)
        prefix = r.name + b"/"
        key = _key(prefix, lease)
        resp = await c.txn(
            compare=[_created(key, 0)],
            success=[_put(key, b"", lease), _get(prefix, **_oldest(prefix))],
            failure=[_get(key), _get(prefix, **_oldest(prefix))],
        )
        my_rev = resp.header.revision
        if not resp.succeeded:  # this lease has its key already: reuse it
            my_rev = resp.responses[0].response_range.kvs[0].create_revision
        owner = resp.responses[1].response_range.kvs
        if not owner or owner[0].create_revision == my_rev:
            return v3lock_pb2.LockResponse(header=resp.header, key=key)
        try:
            await _wait_deletes(c, prefix, my_rev - 1)
        except asyncio.CancelledError:
            if c.caller_gave_up():  # leave the queue
                with contextlib.suppress(ServerError):
                    await c.delete(key)
            raise
        # the wait does not notice our own key going (lease revoked or expired)
        got = await c.range(key)
        if not got.kvs:
            raise ServerError(E.MUTEX_SESSION_EXPIRED)
        return v3lock_pb2.LockResponse(header=got.header, key=key)

    @unary
    async def Unlock(self, r: v3lock_pb2.UnlockRequest) -> v3lock_pb2.UnlockResponse:
        return v3lock_pb2.UnlockResponse(header=(await self._c.delete(r.key)).header)


_LeaderKey = v3election_pb2.LeaderKey


class ElectionService:
    """v3electionpb.Election: concurrency.Election on a session of the request's lease."""

    def __init__(self, client: InProcessClient) -> None:
        self._c = client

    async def _proclaim(self, leader: _LeaderKey, lease: int, value: bytes) -> rpc_pb2.TxnResponse:
        resp = await self._c.txn(
            compare=[_created(leader.key, leader.rev)], success=[_put(leader.key, value, lease)]
        )
        if not resp.succeeded:
            raise ServerError(E.ELECTION_NOT_LEADER)
        return resp

    async def _resign(self, leader: _LeaderKey) -> rpc_pb2.TxnResponse:
        delete = rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=leader.key))
        return await self._c.txn(compare=[_created(leader.key, leader.rev)], success=[delete])

    @unary
    async def Campaign(self, r: v3election_pb2.CampaignRequest) -> v3election_pb2.CampaignResponse:
        c = self._c
        lease = await _session(c, r.lease)
        prefix = r.name + b"/"
        key = _key(prefix, lease)
        resp = await c.txn(
            compare=[_created(key, 0)], success=[_put(key, r.value, lease)], failure=[_get(key)]
        )
        leader = _LeaderKey(name=r.name, key=key, rev=resp.header.revision, lease=lease)
        if not resp.succeeded:  # this lease campaigns already: take the new value
            kv = resp.responses[0].response_range.kvs[0]
            leader.rev = kv.create_revision
            if kv.value != r.value:
                try:
                    await self._proclaim(leader, lease, r.value)
                except ServerError:
                    with contextlib.suppress(ServerError):
                        await self._resign(leader)
                    raise
        try:
            await _wait_deletes(c, prefix, leader.rev - 1)
        except asyncio.CancelledError:
            if c.caller_gave_up():  # withdraw
                with contextlib.suppress(ServerError):
                    await self._resign(leader)
            raise
        # Go's Election answers with the header of its first Txn, even after waiting,
        # and does not check that its key survived the wait.
        return v3election_pb2.CampaignResponse(header=resp.header, leader=leader)

    @unary
    async def Proclaim(self, r: v3election_pb2.ProclaimRequest) -> v3election_pb2.ProclaimResponse:
        if not r.HasField("leader"):
            raise ServerError(E.MISSING_LEADER_KEY)
        lease = await _session(self._c, r.leader.lease)  # 0: a new lease, the key moves to it
        resp = await self._proclaim(r.leader, lease, r.value)
        return v3election_pb2.ProclaimResponse(header=resp.header)

    @unary
    async def Resign(self, r: v3election_pb2.ResignRequest) -> v3election_pb2.ResignResponse:
        if not r.HasField("leader"):
            raise ServerError(E.MISSING_LEADER_KEY)
        await _session(self._c, r.leader.lease)  # 0 grants a lease nobody uses, as in etcd
        return v3election_pb2.ResignResponse(header=(await self._resign(r.leader)).header)

    @unary
    async def Leader(self, r: v3election_pb2.LeaderRequest) -> v3election_pb2.LeaderResponse:
        prefix = r.name + b"/"
        got = await self._c.range(prefix, **_oldest(prefix))
        if not got.kvs:
            raise ServerError(E.ELECTION_NO_LEADER)
        return v3election_pb2.LeaderResponse(header=got.header, kv=got.kvs[0])

    async def Observe(
        self, r: v3election_pb2.LeaderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[v3election_pb2.LeaderResponse]:
        """Go's Election.observe: the leader, then each put to its key until the key is
        deleted; then the next leader (or, if none, the first key put under the name).
        A read that fails (the caller may not read the name) ends the stream without
        an error, as Go's observe returns on any error."""
        serve_as(context)
        c = self._c
        prefix = r.name + b"/"
        with c.changes() as changed:
            while True:
                try:
                    got = await c.range(prefix, **_oldest(prefix))
                except ServerError:
                    return
                if got.kvs:
                    kv, rev = got.kvs[0], got.header.revision
                else:
                    first = await c.next_event(
                        changed, prefix, prefix_end(prefix), got.header.revision, puts=True
                    )
                    if first is None:
                        return
                    kv, rev = _kv(first), first.mod_revision
                while True:
                    yield v3election_pb2.LeaderResponse(header=c.header(rev), kv=kv)
                    event = await c.next_event(changed, kv.key, b"", rev + 1, puts=False)
                    if event is None:
                        return
                    if event.tombstone:
                        break
                    kv, rev = _kv(event), event.mod_revision
