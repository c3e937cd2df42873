"""etcd's watch guarantees, checked against the acknowledged writes and across watchers.

The truth of a revision is what an acknowledged put or successful txn wrote, plus what any
watcher was told (watchers must agree with each other and with the writes). Per watcher:
ordered (revisions never go back, so one revision's events are consecutive: atomic), unique
(no (key, revision) twice), reliable (every true event on a watched key with start <=
revision <= the last revision the watcher saw is delivered, so a re-opened watch that lost
or repeated events is caught), atomic across watchers (a watcher that saw revision r saw
all of r's watched events), prev_kv and is_create agree with the previous event of the key
in the watcher's own stream (after the first one, the stream is complete for that key).
Across KV and watch: each write is applied at most once, and never when the client was
told it was not.
"""

from __future__ import annotations

from tests.robustness.history import History, WatchEvent, WatchOptions
from tests.robustness.verdict import OK, Verdict

Fact = tuple[str, bytes | None]  # (type, value) of a key at a revision


def check_watches(history: History) -> Verdict:
    truth: dict[tuple[bytes, int], Fact] = {}
    origin: dict[tuple[bytes, int], str] = {}
    for op in history.ops:
        if op.ret is None or op.failed or op.revision is None:
            continue
        if op.kind == "put" or (op.kind == "txn" and op.succeeded is True):
            truth[(op.key, op.revision)] = ("PUT", op.value)
            origin[(op.key, op.revision)] = f"acknowledged {op.kind} by client {op.client}"
    for watcher, (_, events) in sorted(history.watches.items()):
        for e in events:
            where = (e.key, e.mod_revision)
            fact: Fact = (e.type, e.value)
            if truth.setdefault(where, fact) != fact:
                return Verdict(
                    False,
                    f"watcher {watcher} got {_show(e)}, but at that revision the key holds "
                    f"{truth[where]} ({origin.get(where, 'another watcher')})",
                )
            origin.setdefault(where, f"watcher {watcher}")
    verdict = _check_writes_applied_once(history)
    if not verdict.ok:
        return verdict
    for watcher, (start, events) in sorted(history.watches.items()):
        options = history.watch_options.get(watcher, WatchOptions())
        verdict = _check_one(watcher, start, events, options, truth)
        if not verdict.ok:
            return verdict
    return OK


def _check_writes_applied_once(history: History) -> Verdict:
    """Every value the watchers saw put was written by one operation of the history (values
    are unique per operation), at one revision, by an operation not reported as not
    applied: a write applied twice (a client repeating it) or applied although the
    client was told it was not shows here, whatever the reads happened to see."""
    writer = {op.value: op for op in history.ops if op.kind in ("put", "txn") and op.value}
    put_at: dict[bytes, tuple[bytes, int]] = {}
    for watcher, (_, events) in sorted(history.watches.items()):
        for e in events:
            if e.type != "PUT" or e.value is None:
                continue
            op = writer.get(e.value)
            if op is None:
                return Verdict(False, f"watcher {watcher} got a value nobody wrote: {_show(e)}")
            if op.failed:
                return Verdict(
                    False,
                    f"a {op.kind} by client {op.client} reported not applied was applied:"
                    f" watcher {watcher} got {_show(e)}",
                )
            where = put_at.setdefault(e.value, (e.key, e.mod_revision))
            if where != (e.key, e.mod_revision):
                return Verdict(
                    False,
                    f"one {op.kind} by client {op.client} applied twice: {e.value!r} at"
                    f" revision {where[1]} and at {e.mod_revision} (watcher {watcher})",
                )
    return OK


def _check_one(
    watcher: int,
    start: int,
    events: list[WatchEvent],
    options: WatchOptions,
    truth: dict[tuple[bytes, int], Fact],
) -> Verdict:
    seen: set[tuple[bytes, int]] = set()
    previous: WatchEvent | None = None
    for e in events:  # first what the stream is: in range, each event once, in order
        where = (e.key, e.mod_revision)
        if e.mod_revision < start or not options.covers(e.key):
            return Verdict(False, f"watcher {watcher} (start {start}) got {_show(e)}")
        if where in seen:
            return Verdict(False, f"watcher {watcher} got an event twice: {_show(e)}")
        if previous is not None and e.mod_revision < previous.mod_revision:
            return Verdict(
                False,
                f"watcher {watcher} got events out of order: {_show(previous)} then {_show(e)}",
            )
        seen.add(where)
        previous = e
    if previous is None:
        return OK
    last = previous.mod_revision
    missing = sorted(
        (rev, key)
        for (key, rev) in truth
        if start <= rev <= last and options.covers(key) and (key, rev) not in seen
    )
    if missing:
        rev, key = missing[0]
        return Verdict(
            False,
            f"watcher {watcher} (start {start}, saw up to revision {last}) missed"
            f" {truth[(key, rev)][0]} {key!r} at revision {rev}"
            f" ({len(missing)} event(s) missing in all)",
        )
    return _check_contents(watcher, events, options)


def _check_contents(watcher: int, events: list[WatchEvent], options: WatchOptions) -> Verdict:
    """prev_kv and is_create against the previous event of the key in a complete stream."""
    last_of_key: dict[bytes, WatchEvent] = {}
    for e in events:
        if e.type == "PUT" and e.is_create != (e.create_revision == e.mod_revision):
            return Verdict(False, f"watcher {watcher}: is_create disagrees: {_show(e)}")
        if e.type == "DELETE" and e.is_create:
            return Verdict(False, f"watcher {watcher}: a DELETE marked is_create: {_show(e)}")
        before = last_of_key.get(e.key)
        if before is not None:
            before_value = before.value if before.type == "PUT" else None
            checked_prev = options.prev_kv or e.prev_value is not None
            if checked_prev and e.prev_value != before_value:
                return Verdict(
                    False,
                    f"watcher {watcher}: wrong prev_kv {e.prev_value!r} (previous event of the"
                    f" key: {_show(before)}) in {_show(e)}",
                )
            if e.type == "PUT" and e.is_create != (before.type == "DELETE"):
                return Verdict(
                    False,
                    f"watcher {watcher}: is_create={e.is_create} but the previous event of the"
                    f" key was {_show(before)}: {_show(e)}",
                )
        last_of_key[e.key] = e
    return OK


def _show(e: WatchEvent) -> str:
    return (
        f"{e.type} {e.key!r}={e.value!r} mod={e.mod_revision} create={e.create_revision}"
        f" version={e.version} prev={e.prev_value!r} is_create={e.is_create}"
    )
