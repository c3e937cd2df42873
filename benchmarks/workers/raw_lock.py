"""The mutex floor: etcd's lock protocol written on the generated stubs, nothing more.

The same key layout and the same steps as etcd's concurrency.Mutex (and etcd3py's):
each contender puts ``<name>/<its lease in hex>`` with its lease, in a transaction
that creates it only if absent and reads the oldest key and the two newest. The
oldest key holds the lock. A waiter watches only its predecessor (the key created
just before its own) for a DELETE -- the watch starts at the current revision, then
the key is read once, so a deletion before the watch is not missed and etcd never
serves the watch from its 100 ms catch-up loop -- and once it is deleted reads the
oldest key again: its turn, or a new predecessor to wait for. Release deletes the
key. No retries, no loss watch, no wrappers: the least a correct lock costs.

The hand-off path is: the holder's DeleteRange; the waiter's watch event; its one
read of the oldest key. This module builds the requests and reads the answers; the
sync and asyncio workers only move them.
"""

from __future__ import annotations

from benchmarks.workers.harness import prefix_end
from etcd3py._proto import kv_pb2, rpc_pb2

LOCK_NOTE = (
    "the floor: one lease per contender (kept alive every TTL/3) and one Watch stream "
    "per contender, etcd's lock protocol on the generated stubs: put <name>/<lease> "
    "(txn, if absent) reading the oldest and the two newest keys; a waiter watches "
    "its predecessor from the current revision, reads it once, and on its DELETE "
    "reads the oldest key; release is one DeleteRange"
)


class RawLock:
    """One contender's key and the requests about it."""

    def __init__(self, prefix: bytes, lease_id: int) -> None:
        self.prefix = prefix
        self.key = prefix + b"%x" % lease_id
        self.lease_id = lease_id
        self.revision = 0  # my key's create revision, once put
        end = prefix_end(prefix)
        self.oldest = rpc_pb2.RangeRequest(
            key=prefix,
            range_end=end,
            limit=1,
            sort_order=rpc_pb2.RangeRequest.ASCEND,
            sort_target=rpc_pb2.RangeRequest.CREATE,
        )
        self._newest_two = rpc_pb2.RangeRequest(
            key=prefix,
            range_end=end,
            limit=2,
            sort_order=rpc_pb2.RangeRequest.DESCEND,
            sort_target=rpc_pb2.RangeRequest.CREATE,
        )
        self.release_request = rpc_pb2.DeleteRangeRequest(key=self.key)

    def put_request(self) -> rpc_pb2.TxnRequest:
        absent = rpc_pb2.Compare(
            result=rpc_pb2.Compare.EQUAL, target=rpc_pb2.Compare.CREATE, key=self.key
        )
        put = rpc_pb2.PutRequest(key=self.key, value=b"", lease=self.lease_id)
        return rpc_pb2.TxnRequest(
            compare=[absent],
            success=[
                rpc_pb2.RequestOp(request_put=put),
                rpc_pb2.RequestOp(request_range=self.oldest),
                rpc_pb2.RequestOp(request_range=self._newest_two),
            ],
        )

    def after_put(self, response: rpc_pb2.TxnResponse) -> kv_pb2.KeyValue | None:
        """My key is made: None when it holds the lock, else the key to wait for."""
        if not response.succeeded:
            raise RuntimeError(f"{self.key!r} already existed: released without a delete?")
        self.revision = response.header.revision
        oldest = response.responses[1].response_range.kvs
        if oldest[0].create_revision == self.revision:
            return None
        newest = response.responses[2].response_range.kvs
        if newest[0].key != self.key:
            raise RuntimeError("a key was created under the lock between put and read")
        return newest[1]

    def before_mine(self) -> rpc_pb2.RangeRequest:
        """The newest key created before mine (after the oldest was not mine)."""
        return rpc_pb2.RangeRequest(
            key=self.prefix,
            range_end=self.oldest.range_end,
            limit=1,
            sort_order=rpc_pb2.RangeRequest.DESCEND,
            sort_target=rpc_pb2.RangeRequest.CREATE,
            max_create_revision=self.revision - 1,
        )

    def holds(self, oldest: rpc_pb2.RangeResponse) -> bool:
        """Whether the answer to ``self.oldest`` says my key holds the lock."""
        if not oldest.kvs or oldest.kvs[0].create_revision > self.revision:
            raise RuntimeError(f"{self.key!r} vanished while waiting")
        return oldest.kvs[0].create_revision == self.revision


def watch_delete(key: bytes) -> rpc_pb2.WatchRequest:
    """Create a watch of ``key``'s deletions, from the current revision."""
    create = rpc_pb2.WatchCreateRequest(key=key, filters=[rpc_pb2.WatchCreateRequest.NOPUT])
    return rpc_pb2.WatchRequest(create_request=create)


def cancel(watch_id: int) -> rpc_pb2.WatchRequest:
    return rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=watch_id))


def gone(now: rpc_pb2.RangeResponse, create_revision: int) -> bool:
    """Whether the read of a waited-for key says it was deleted already."""
    return not now.kvs or now.kvs[0].create_revision != create_revision


def deleted(response: rpc_pb2.WatchResponse, watch_id: int) -> bool:
    """Whether ``response`` tells watch ``watch_id``'s key was deleted."""
    return response.watch_id == watch_id and any(
        e.type == kv_pb2.Event.DELETE for e in response.events
    )
