"""Watch: one stream with many watches, replay, filters, progress, fragments, cancel."""

from __future__ import annotations

from etcd3py import _etcd_errors as E
from etcd3py._proto import kv_pb2, rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend, WatchStream, prefix_end

PUT, DELETE = kv_pb2.Event.PUT, kv_pb2.Event.DELETE
W = rpc_pb2.WatchCreateRequest


def summary(events: list[kv_pb2.Event]) -> list[tuple[int, bytes, bytes, int]]:
    return [(e.type, e.kv.key, e.kv.value, e.kv.mod_revision) for e in events]


def test_created_response(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    current = backend.put(prefix + b"x").header.revision
    created = watch.create(prefix + b"k")
    assert created.created and not created.canceled and not created.events
    assert created.header.revision == current
    assert created.header.member_id and created.header.cluster_id


def test_live_put_and_delete_events(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    k = prefix + b"k"
    wid = watch.create(k).watch_id
    r1 = backend.put(k, b"v1").header.revision
    r2 = backend.put(k, b"v2").header.revision
    r3 = backend.delete(k).header.revision
    events = watch.events(3)
    assert summary(events) == [(PUT, k, b"v1", r1), (PUT, k, b"v2", r2), (DELETE, k, b"", r3)]
    created, updated, deleted = events
    assert (created.kv.create_revision, created.kv.version) == (r1, 1)
    assert (updated.kv.create_revision, updated.kv.version) == (r1, 2)
    # a DELETE event carries only the key and the revision of the delete
    assert (deleted.kv.create_revision, deleted.kv.version, deleted.kv.lease) == (0, 0, 0)
    assert not any(e.HasField("prev_kv") for e in events)
    del wid


def test_responses_carry_their_watch_id_and_revision(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    ids = {name: watch.create(prefix + name).watch_id for name in (b"a", b"b", b"c")}
    assert len(set(ids.values())) == 3
    for name in (b"c", b"a", b"b"):
        rev = backend.put(prefix + name, name).header.revision
        resp = watch.next()
        assert resp.watch_id == ids[name]
        assert resp.header.revision == rev
        assert summary(list(resp.events)) == [(PUT, prefix + name, name, rev)]


def test_explicit_and_automatic_watch_ids(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    first = watch.create(prefix + b"a").watch_id
    chosen = watch.create(prefix + b"b", watch_id=first + 7).watch_id
    assert chosen == first + 7
    duplicate = watch.create(prefix + b"c", watch_id=chosen)
    assert (duplicate.watch_id, duplicate.canceled) == (-1, True)
    assert duplicate.cancel_reason == E.WATCH_DUPLICATE_ID
    auto = watch.create(prefix + b"d").watch_id
    assert auto not in (first, chosen)
    backend.put(prefix + b"b", b"x")
    assert watch.next().watch_id == chosen


def test_empty_range_is_refused(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    resp = watch.create(prefix + b"b", range_end=prefix + b"a")
    assert (resp.watch_id, resp.canceled, resp.cancel_reason) == (-1, True, E.WATCH_EMPTY_RANGE)
    # the stream goes on serving
    wid = watch.create(prefix + b"k").watch_id
    backend.put(prefix + b"k")
    assert watch.next().watch_id == wid


def test_replay_from_start_revision_then_live(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    k = prefix + b"k"
    r1 = backend.put(k, b"1").header.revision
    r2 = backend.put(k, b"2").header.revision
    r3 = backend.delete(k).header.revision
    backend.put(prefix + b"other")
    watch.create(k, start_revision=r1)
    replayed = watch.events(3)
    assert summary(replayed) == [(PUT, k, b"1", r1), (PUT, k, b"2", r2), (DELETE, k, b"", r3)]
    r4 = backend.put(k, b"4").header.revision
    assert summary(watch.events(1)) == [(PUT, k, b"4", r4)]


def test_replay_of_a_prefix_keeps_revision_order(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    start = backend.put(prefix + b"b", b"1").header.revision
    backend.put(prefix + b"a", b"2")
    backend.txn(
        success=[
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=prefix + b"c", value=b"3")),
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=prefix + b"a", value=b"4")),
        ]
    )
    backend.delete(prefix + b"b")
    watch.create(prefix, range_end=prefix_end(prefix), start_revision=start)
    events = watch.events(5)
    assert [(e.type, e.kv.key[len(prefix) :], e.kv.mod_revision - start) for e in events] == [
        (PUT, b"b", 0),
        (PUT, b"a", 1),
        (PUT, b"c", 2),
        (PUT, b"a", 2),
        (DELETE, b"b", 3),
    ]


def test_events_of_one_revision_arrive_together(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    watch.create(prefix, range_end=prefix_end(prefix))
    ops = [
        rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=prefix + b"%d" % i)) for i in range(5)
    ]
    rev = backend.txn(success=ops).header.revision
    resp = watch.next()
    assert [e.kv.key for e in resp.events] == [prefix + b"%d" % i for i in range(5)]
    assert {e.kv.mod_revision for e in resp.events} == {rev}


def test_range_prefix_and_from_key_watches(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    ranged = watch.create(prefix + b"b", range_end=prefix + b"d").watch_id
    prefixed = watch.create(prefix + b"d/", range_end=prefix_end(prefix + b"d/")).watch_id
    from_key = watch.create(prefix + b"x", range_end=b"\x00").watch_id
    for name in (b"a", b"b", b"c", b"d", b"d/1", b"x", b"y"):
        backend.put(prefix + name)
    seen: dict[int, list[bytes]] = {ranged: [], prefixed: [], from_key: []}
    while sum(len(v) for v in seen.values()) < 5:
        resp = watch.next()
        seen[resp.watch_id].extend(e.kv.key[len(prefix) :] for e in resp.events)
    assert seen == {ranged: [b"b", b"c"], prefixed: [b"d/1"], from_key: [b"x", b"y"]}


def test_prev_kv(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    k = prefix + b"k"
    watch.create(k, prev_kv=True)
    r1 = backend.put(k, b"1").header.revision
    backend.put(k, b"2")
    backend.delete(k)
    created, updated, deleted = watch.events(3)
    assert not created.HasField("prev_kv")  # a creation has no previous version
    assert (updated.prev_kv.value, updated.prev_kv.mod_revision) == (b"1", r1)
    assert (deleted.prev_kv.value, deleted.prev_kv.version) == (b"2", 2)


def test_noput_filter(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    k = prefix + b"k"
    watch.create(k, filters=[W.NOPUT])
    backend.put(k, b"1")
    rev = backend.delete(k).header.revision
    # the PUT was filtered out: the first thing delivered is the DELETE
    assert summary(watch.events(1)) == [(DELETE, k, b"", rev)]


def test_nodelete_filter(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    k = prefix + b"k"
    watch.create(k, filters=[W.NODELETE])
    r1 = backend.put(k, b"1").header.revision
    backend.delete(k)
    r3 = backend.put(k, b"3").header.revision
    assert summary(watch.events(2)) == [(PUT, k, b"1", r1), (PUT, k, b"3", r3)]


def test_cancel(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    gone = watch.create(prefix + b"gone").watch_id
    kept = watch.create(prefix + b"kept").watch_id
    watch.cancel(gone)
    resp = watch.next()
    assert (resp.watch_id, resp.canceled, resp.created) == (gone, True, False)
    backend.put(prefix + b"gone")
    backend.put(prefix + b"kept")
    # the canceled watch sees nothing: the next response is the other watch's event
    assert watch.next().watch_id == kept


def test_cancel_of_an_unknown_watch_is_ignored(
    backend: Backend, watch: WatchStream, prefix: bytes
) -> None:
    watch.cancel(98765)
    wid = watch.create(prefix + b"k").watch_id
    backend.put(prefix + b"k")
    assert watch.next().watch_id == wid


def test_progress_request(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    wid = watch.create(prefix + b"k").watch_id
    rev = backend.put(prefix + b"k").header.revision
    watch.request_progress()
    first = watch.next()
    assert first.watch_id == wid and first.events  # the event comes before the progress
    progress = watch.next()
    assert (progress.watch_id, list(progress.events)) == (-1, [])
    assert progress.header.revision == rev


def test_progress_notifications(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    # both servers run with a 1 s progress-notify interval (see tests/support/servers.py)
    wid = watch.create(prefix + b"k", progress_notify=True).watch_id
    current = backend.revision()
    resp = watch.next(timeout=5)
    assert (resp.watch_id, list(resp.events), resp.canceled) == (wid, [], False)
    assert resp.header.revision == current


def test_future_start_revision(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    k = prefix + b"k"
    start = backend.revision() + 2
    watch.create(k, start_revision=start)
    backend.put(k, b"skipped")
    assert backend.put(k, b"seen").header.revision == start
    assert summary(watch.events(1)) == [(PUT, k, b"seen", start)]


def test_compacted_start_revision(backend: Backend, watch: WatchStream, prefix: bytes) -> None:
    k = prefix + b"k"
    old = backend.put(k, b"1").header.revision
    now = backend.put(k, b"2").header.revision
    backend.kv.Compact(rpc_pb2.CompactionRequest(revision=now), timeout=RPC_TIMEOUT)
    created = watch.create(k, start_revision=old)
    assert not created.canceled
    resp = watch.next()
    assert (resp.watch_id, resp.canceled, resp.compact_revision) == (created.watch_id, True, now)
    assert not resp.events
    # the compaction revision itself can still be watched
    watch.create(k, start_revision=now)
    assert summary(watch.events(1)) == [(PUT, k, b"2", now)]


def test_fragments(backend: Backend, prefix: bytes) -> None:
    big = 700 * 1024  # three of these exceed etcd's 1.5 MiB request limit
    start = backend.put(prefix + b"0", b"a" * big).header.revision
    backend.put(prefix + b"1", b"b" * big)
    backend.put(prefix + b"2", b"c" * big)
    end = prefix_end(prefix)
    stream = backend.open_watch()
    try:
        stream.create(prefix, range_end=end, start_revision=start, fragment=True)
        parts = [stream.next()]
        while parts[-1].fragment:
            parts.append(stream.next())
        assert len(parts) >= 2
        assert [p.fragment for p in parts] == [True] * (len(parts) - 1) + [False]
        keys = [e.kv.key for p in parts for e in p.events]
        assert keys == [prefix + b"0", prefix + b"1", prefix + b"2"]
        # without fragment the same history arrives as one response
        stream.create(prefix, range_end=end, start_revision=start)
        whole = stream.next()
        assert len(whole.events) == 3 and not whole.fragment
    finally:
        stream.close()


def test_many_streams_see_the_same_history(backend: Backend, prefix: bytes) -> None:
    streams = [backend.open_watch() for _ in range(3)]
    try:
        for s in streams:
            s.create(prefix, range_end=prefix_end(prefix))
        revs = [backend.put(prefix + b"%d" % i, b"v").header.revision for i in range(10)]
        for s in streams:
            assert [e.kv.mod_revision for e in s.events(10)] == revs
    finally:
        for s in streams:
            s.close()
