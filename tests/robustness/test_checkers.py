"""Each checker accepts known-good histories and flags one known-bad history per claim."""

from __future__ import annotations

import dataclasses

import pytest

from tests.robustness.history import History, Op, WatchEvent, WatchOptions
from tests.robustness.linearizability import check
from tests.robustness.simulate import random_history
from tests.robustness.watch_checks import check_watches

K = b"k"


def put(client: int, call: float, ret: float | None, value: bytes, rev: int | None) -> Op:
    return Op(client, call, ret, "put", K, value, revision=rev)


def get(client: int, call: float, ret: float, value: bytes | None, mod: int, rev: int) -> Op:
    return Op(client, call, ret, "get", K, revision=rev, got_value=value, got_mod=mod or None)


def event(
    rev: int, value: bytes | None, prev: bytes | None, create: int, watcher: int = 0
) -> WatchEvent:
    kind = "PUT" if value is not None else "DELETE"
    is_create = kind == "PUT" and create == rev
    return WatchEvent(watcher, K, kind, value, rev, create, 1, prev, is_create)


def rejected(history: History, *words: str) -> str:
    verdict = check(history)
    assert not verdict.ok
    for word in words:
        assert word in verdict.explanation
    return verdict.explanation


# --- linearizability: good histories ---------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_random_good_histories_pass_both_checkers(seed: int) -> None:
    history = random_history(seed, n_keys=1 + seed % 4, n_clients=2 + seed % 6, spread=2.0)
    assert check(history).ok, check(history).explanation
    assert check_watches(history).ok, check_watches(history).explanation


def test_json_round_trip_keeps_the_history() -> None:
    history = random_history(7)
    history.watch_options[0] = WatchOptions(b"k", b"l", prev_kv=True)
    again = History.from_json(history.to_json())
    assert again == history


def test_concurrent_read_may_see_the_old_or_the_new_value() -> None:
    old = [put(0, 0, 1, b"a", 2), put(0, 2, 5, b"b", 3), get(1, 3, 4, b"a", 2, 2)]
    new = [put(0, 0, 1, b"a", 2), put(0, 2, 5, b"b", 3), get(1, 3, 4, b"b", 3, 3)]
    assert check(History(old)).ok and check(History(new)).ok


@pytest.mark.parametrize("seen", [b"a", b"b"])
def test_unknown_outcome_write_may_or_may_not_have_applied(seen: bytes) -> None:
    mod = 2 if seen == b"a" else 3
    ops = [put(0, 0, 1, b"a", 2), put(0, 2, None, b"b", None), get(1, 10, 11, seen, mod, mod)]
    assert check(History(ops)).ok


def test_failed_write_is_dropped() -> None:
    ops = [put(0, 0, 1, b"a", 2), dataclasses.replace(put(0, 2, 3, b"b", None), failed=True)]
    assert check(History([*ops, get(1, 4, 5, b"a", 2, 2)])).ok


# --- linearizability: one bad history per claim ----------------------------------------


def test_stale_read_is_flagged() -> None:
    ops = [put(0, 0, 1, b"a", 2), put(0, 2, 3, b"b", 3), get(1, 4, 5, b"a", 2, 3)]
    rejected(History(ops), "not linearizable", "b'a'")


def test_lost_acknowledged_write_is_flagged() -> None:
    ops = [put(0, 0, 1, b"a", 2), get(1, 2, 3, None, 0, 2)]
    rejected(History(ops), "not linearizable")


def test_write_applied_twice_is_flagged() -> None:
    # a's put was acknowledged at 2, b overwrote it at 3; a read then finds a again at 4
    ops = [put(0, 0, 1, b"a", 2), put(1, 2, 3, b"b", 3), get(2, 4, 5, b"a", 4, 4)]
    rejected(History(ops), "not linearizable")


def test_two_writes_at_one_revision_are_flagged() -> None:
    ops = [put(0, 0, 1, b"a", 2), Op(1, 0, 1, "put", b"other", b"x", revision=2)]
    rejected(History(ops), "two writes acknowledged at revision 2")


def test_revision_going_backwards_is_flagged() -> None:
    ops = [put(0, 0, 1, b"a", 5), Op(1, 2, 3, "get", b"other", revision=4)]
    rejected(History(ops), "revision went backwards")


def test_read_of_a_value_never_written_is_flagged() -> None:
    ops = [put(0, 0, 1, b"a", 2), get(1, 2, 3, b"zzz", 2, 2)]
    rejected(History(ops), "b'zzz'")


def test_unknown_write_seen_before_it_was_issued_is_flagged() -> None:
    ops = [get(1, 0, 1, b"b", 2, 2), put(0, 2, None, b"b", None)]
    rejected(History(ops), "not linearizable")


def test_compare_and_swap_that_should_have_failed_is_flagged() -> None:
    cas = Op(1, 2, 3, "txn", K, b"b", expect_mod=0, revision=3, succeeded=True)
    rejected(History([put(0, 0, 1, b"a", 2), cas]), "not linearizable")


def test_random_history_with_a_stale_read_is_flagged() -> None:
    history = random_history(3, n_ops=400, n_keys=2)
    reads = [
        (i, op)
        for i, op in enumerate(history.ops)
        if op.kind == "get" and op.got_value is not None and op.ret is not None
    ]
    index, read = reads[len(reads) // 2]
    history.ops[index] = dataclasses.replace(read, got_value=b"never")
    assert not check(history).ok


# --- watches -----------------------------------------------------------------------------


def watched(*events: WatchEvent, start: int = 2, prev_kv: bool = True) -> History:
    ops = [put(0, 0, 1, b"a", 2), put(0, 2, 3, b"b", 3), put(0, 4, 5, b"c", 4)]
    options = {0: WatchOptions(K, b"", prev_kv=prev_kv)}
    return History(ops, {0: (start, list(events))}, options)


GOOD = (event(2, b"a", None, 2), event(3, b"b", b"a", 2), event(4, b"c", b"b", 2))


def watch_rejected(history: History, *words: str) -> None:
    verdict = check_watches(history)
    assert not verdict.ok
    for word in words:
        assert word in verdict.explanation, verdict.explanation


def test_good_watch_passes() -> None:
    assert check_watches(watched(*GOOD)).ok
    assert check_watches(watched(*GOOD[1:], start=3)).ok


def test_missing_event_is_flagged() -> None:
    watch_rejected(watched(GOOD[0], GOOD[2]), "missed", "revision 3")


def test_duplicate_event_is_flagged() -> None:
    watch_rejected(watched(*GOOD[:2], GOOD[1], GOOD[2]), "twice")


def test_out_of_order_events_are_flagged() -> None:
    watch_rejected(watched(GOOD[0], GOOD[2], GOOD[1]), "out of order")


def test_wrong_prev_kv_is_flagged() -> None:
    watch_rejected(watched(GOOD[0], event(3, b"b", b"zzz", 2), GOOD[2]), "prev_kv")


def test_wrong_is_create_is_flagged() -> None:
    wrong = dataclasses.replace(GOOD[1], is_create=True)
    watch_rejected(watched(GOOD[0], wrong, GOOD[2]), "is_create")
    recreated = event(3, b"b", b"a", 3)  # claims a create although the key existed
    watch_rejected(watched(GOOD[0], recreated, GOOD[2]), "is_create")


def test_event_disagreeing_with_acknowledged_write_is_flagged() -> None:
    watch_rejected(watched(GOOD[0], event(3, b"x", b"a", 2), GOOD[2]), "acknowledged put")


def test_resumed_watch_that_lost_events_is_flagged() -> None:
    history = random_history(11, n_ops=300)
    _, events = history.watches[0]
    assert len(events) > 4
    del events[len(events) // 2]  # the events of a re-open continue one too far
    watch_rejected(history, "missed")


def test_write_applied_twice_shows_in_the_watches_whatever_the_reads_saw() -> None:
    once = put(0, 0, 1, b"a", 3)  # the client heard of the second application only
    history = History([once], {0: (2, [event(2, b"a", None, 2), event(3, b"a", b"a", 2)])})
    watch_rejected(history, "applied twice", "revision 2 and at 3")


def test_write_reported_not_applied_but_applied_is_flagged() -> None:
    refused = Op(0, 0.0, 1.0, "put", K, b"a", failed=True)
    history = History([refused], {0: (2, [event(2, b"a", None, 2)])})
    watch_rejected(history, "reported not applied was applied")


def test_watched_value_nobody_wrote_is_flagged() -> None:
    history = History([put(0, 0, 1, b"a", 2)], {0: (2, [event(2, b"a", None, 2)])})
    assert check_watches(history).ok
    phantom = History([], {0: (2, [event(2, b"a", None, 2)])})
    watch_rejected(phantom, "nobody wrote")
