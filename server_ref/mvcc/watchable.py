"""What a watcher is owed: the events of its key range, pulled from the store's history.

etcd's watchableStore pushes events into synced and unsynced watcher groups. Here a
watcher remembers the next revision it is owed and pulls the events from the
history when it is ready for them, so a watcher that starts in the past, one behind
a slow client and a live one take the same path, and nothing is buffered. The store's
commit notifications (``Store.add_listener``) say when to pull. No gRPC here: the
Watch stream (api/watch.py) and Election.Observe (api/lock_election.py) build on it.
"""

from __future__ import annotations

from etcd3py._proto import kv_pb2

from .store import Store, Version, fill_kv

MAX_REVISIONS_PER_BATCH = 1000  # etcd's watchBatchMaxRevs

_DELETE = kv_pb2.Event.DELETE


class Watcher:
    """A key range (etcd's: an empty ``range_end`` is one key, ``b"\\0"`` every key from
    ``key`` on), the filters, and the next revision owed."""

    __slots__ = ("key", "next_rev", "no_delete", "no_put", "prev_kv", "range_end")

    def __init__(
        self,
        key: bytes,
        range_end: bytes,
        next_rev: int,
        *,
        no_put: bool = False,
        no_delete: bool = False,
        prev_kv: bool = False,
    ) -> None:
        self.key = key
        self.range_end = range_end
        self.next_rev = next_rev
        self.no_put = no_put
        self.no_delete = no_delete
        self.prev_kv = prev_kv


def compacted(store: Store, w: Watcher) -> bool:
    """Whether history that ``w`` is owed was compacted away (etcd cancels the watch)."""
    return w.next_rev < store.compact_rev


def take(store: Store, w: Watcher, target: int) -> tuple[int, list[Version]]:
    """The versions ``w`` is owed from ``w.next_rev`` to ``target``, at most one batch of
    revisions, filtered; ``w.next_rev`` moves past them. Returns (last revision covered,
    versions); a tombstone is a DELETE event."""
    last = min(target, w.next_rev + MAX_REVISIONS_PER_BATCH - 1)
    versions = store.events(w.next_rev, last, w.key, w.range_end)
    w.next_rev = last + 1
    if versions and (w.no_put or w.no_delete):
        no_put, no_delete = w.no_put, w.no_delete
        versions = [v for v in versions if not (no_delete if v.tombstone else no_put)]
    return last, versions


def fill_event(out: kv_pb2.Event, store: Store, v: Version, prev_kv: bool) -> None:
    """Write ``v`` into ``out`` as etcd's mvccpb.Event, with the previous version when
    asked for and still in the history."""
    if v.tombstone:
        out.type = _DELETE
        out.kv.key = v.key
        out.kv.mod_revision = v.mod_revision
    else:
        fill_kv(out.kv, v)
    is_create = not v.tombstone and v.create_revision == v.mod_revision
    if prev_kv and not is_create:
        before = v.mod_revision - 1
        if before >= store.compact_rev:
            prev = store.get(v.key, before)
            if prev is not None:
                fill_kv(out.prev_kv, prev)
