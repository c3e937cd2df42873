"""Linearizability of the KV operations: a Wing-Gong-Lowe search (as porcupine does it).

What is checked, and why it is sound (never flags a linearizable history):

* Per key, a WGL search over a one-key model whose state is (value, mod_revision, low,
  floor). ``floor`` is the largest global revision the linearization has reached on this key
  (write revisions, read header revisions): revisions only grow in any real linearization, so
  a write must carry a revision > floor and a read a header revision >= floor. The projection
  of a global linearization onto one key satisfies all of this, so splitting by key loses
  no good history. An unknown-outcome write may apply at any point after its call or never;
  its mod_revision is then unknown (None) but > ``low`` (the floor when it applied), and the
  first read or successful compare that sees it pins it.
* Globally, without search: acknowledged puts and successful txns have distinct revisions,
  and real-time order is respected by revisions (an op returned before another was called
  has revision <= the later one's, < when the later one is a revision-bumping write).

Limits: cross-key cycles that respect every per-key order and the real-time revision
order are not searched for. Keys start absent.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

from tests.robustness.history import History, Op
from tests.robustness.verdict import OK, Verdict

# (value, mod_revision or None when unknown, low bound of an unknown mod, floor)
State = tuple[bytes | None, int | None, int, int]
INITIAL: State = (None, 0, 0, 0)


def check(history: History) -> Verdict:
    ops = [op for op in history.ops if not op.failed]
    verdict = _check_revisions_globally(ops)
    if not verdict.ok:
        return verdict
    by_key: dict[bytes, list[Op]] = defaultdict(list)
    for op in ops:
        if op.kind == "get" and op.ret is None:
            continue  # a read with no answer says nothing
        by_key[op.key].append(op)
    for key in sorted(by_key):
        verdict = _check_key(key, _prune_unseen_unknown_writes(by_key[key]))
        if not verdict.ok:
            return verdict
    return OK


def step(state: State, op: Op) -> State | None:
    """The model: the state after ``op``, or None when ``op`` cannot happen now."""
    value, mod, low, floor = state
    rev = op.revision
    if op.kind == "get":
        if rev is not None and rev < floor:
            return None
        if op.got_value != value:
            return None
        new_floor = floor if rev is None else rev
        if value is None:
            return (None, 0, 0, new_floor) if op.got_mod in (None, 0) else None
        if mod is None:
            if op.got_mod is None or op.got_mod <= low or (rev is not None and op.got_mod > rev):
                return None
            return (value, op.got_mod, 0, new_floor)
        if op.got_mod is not None and op.got_mod != mod:
            return None
        return (value, mod, low, new_floor)
    if op.kind == "put" or (op.kind == "txn" and op.succeeded is not False):
        if op.kind == "txn" and not _compare_may_hold(state, op):
            if op.ret is None:
                return state  # an unknown txn whose compare failed changes nothing
            return None
        if op.ret is None:
            return (op.value, None, floor, floor)
        if rev is not None and rev <= floor:
            return None
        new_floor = floor if rev is None else rev
        return (op.value, rev, 0, new_floor)
    if op.kind == "txn":  # answered, compare did not hold
        if _compare_must_hold(state, op):
            return None
        if rev is not None and rev < floor:
            return None
        return (value, mod, low, floor if rev is None else rev)
    if op.kind == "delete":
        if op.ret is None:
            return (None, 0, 0, floor)
        if rev is not None and (rev < floor or (value is not None and rev == floor)):
            return None
        return (None, 0, 0, floor if rev is None else rev)
    raise ValueError(f"unknown op kind {op.kind!r}")


def _compare_may_hold(state: State, op: Op) -> bool:
    value, mod, low, _ = state
    if op.expect_mod == 0:
        return value is None
    if value is None:
        return False
    if mod is None:
        upper = op.revision if op.revision is not None else None
        return (
            op.expect_mod is not None
            and op.expect_mod > low
            and (upper is None or op.expect_mod < upper)
        )
    return mod == op.expect_mod


def _compare_must_hold(state: State, op: Op) -> bool:
    value, mod, _, _ = state
    if op.expect_mod == 0:
        return value is None
    return value is not None and mod is not None and mod == op.expect_mod


def _prune_unseen_unknown_writes(ops: list[Op]) -> list[Op]:
    """Drop unknown-outcome puts/txns whose value no read returned, when no txn on the key
    could depend on them (every compare failed-free and expecting a known revision): taking
    such a write as never applied keeps every linearization valid, and each unknown write
    left multiplies the search."""
    read_values = {op.got_value for op in ops if op.kind == "get"}
    known_revs = {0} | {op.revision for op in ops if op.ret is not None and op.revision is not None}
    txns_independent = all(
        op.ret is not None and op.succeeded is True and op.expect_mod in known_revs
        for op in ops
        if op.kind == "txn"
    )
    if not txns_independent:
        return ops
    return [
        op
        for op in ops
        if not (op.ret is None and op.kind in ("put", "txn") and op.value not in read_values)
    ]


def _check_key(key: bytes, ops: list[Op]) -> Verdict:
    """WGL search over one key's ops; entries are call/return events in a linked list."""
    n = len(ops)
    inf = float("inf")
    # event e: op index e // 2, a call when e is even; sorted by time, calls first on ties
    events = sorted(
        range(2 * n),
        key=lambda e: (
            ops[e // 2].call if e % 2 == 0 else (ops[e // 2].ret or inf),
            e % 2,
        ),
    )
    head = -1
    nxt: dict[int, int | None] = {}
    prv: dict[int, int] = {}
    previous = head
    for e in events:
        nxt[previous] = e
        prv[e] = previous
        previous = e
    nxt[previous] = None

    def lift(call: int) -> None:
        for e in (call, call + 1):
            p, q = prv[e], nxt[e]
            nxt[p] = q
            if q is not None:
                prv[q] = p

    def unlift(call: int) -> None:
        for e in (call + 1, call):
            p, q = prv[e], nxt[e]
            nxt[p] = e
            if q is not None:
                prv[q] = e

    state = INITIAL
    linearized = 0
    cache: set[tuple[int, State]] = set()
    stack: list[tuple[int, State]] = []
    best: tuple[int, list[int], State, int] = (-1, [], INITIAL, -1)
    entry = nxt[head]
    while entry is not None:
        i = entry // 2
        if entry % 2 == 0:
            after = step(state, ops[i])
            if after is not None:
                marked = linearized | (1 << i)
                if (marked, after) not in cache:
                    cache.add((marked, after))
                    stack.append((entry, state))
                    state, linearized = after, marked
                    lift(entry)
                    entry = nxt[head]
                    continue
            entry = nxt[entry]
            continue
        if ops[i].ret is None:
            return OK  # only unknown-outcome ops remain: they never took effect
        if len(stack) > best[0]:
            best = (len(stack), [c // 2 for c, _ in stack], state, i)
        if not stack:
            return _explain(key, ops, best)
        call, state = stack.pop()
        linearized &= ~(1 << (call // 2))
        unlift(call)
        entry = nxt[call]
    return OK


def _explain(key: bytes, ops: list[Op], best: tuple[int, list[int], State, int]) -> Verdict:
    _, order, state, stuck = best
    tail = order[-5:]
    lines = [
        f"key {key!r}: not linearizable; the longest linearizable prefix has {len(order)} op(s),"
        f" after which the model is value={state[0]!r} mod_revision={state[1]!r}"
        f" revision>={state[3]}, and this op, which had returned, fits nowhere:",
        f"  {_show(ops[stuck])}",
        "the last ops of that prefix:",
        *(f"  {_show(ops[i])}" for i in tail),
    ]
    return Verdict(False, "\n".join(lines))


def _show(op: Op) -> str:
    parts = [f"client {op.client} {op.kind} {op.key!r}"]
    if op.kind in ("put", "txn"):
        parts.append(f"value={op.value!r}")
    if op.kind == "txn":
        parts.append(f"if mod=={op.expect_mod} succeeded={op.succeeded}")
    if op.kind == "get":
        parts.append(f"-> {op.got_value!r} mod={op.got_mod}")
    ret = "unknown" if op.ret is None else f"{op.ret:.6f}"
    parts.append(f"rev={op.revision} [{op.call:.6f}, {ret}]")
    return " ".join(parts)


def _bumps(op: Op) -> bool:
    return op.kind == "put" or (op.kind == "txn" and op.succeeded is True)


def _check_revisions_globally(ops: Iterable[Op]) -> Verdict:
    answered = [op for op in ops if op.ret is not None and op.revision is not None]
    owners: dict[int, Op] = {}
    for op in answered:
        if _bumps(op):
            assert op.revision is not None
            other = owners.setdefault(op.revision, op)
            if other is not op:
                return Verdict(
                    False,
                    f"two writes acknowledged at revision {op.revision}:\n  {_show(other)}\n"
                    f"  {_show(op)}",
                )
    by_ret = sorted(answered, key=lambda op: op.ret or 0.0)
    rets = [op.ret or 0.0 for op in by_ret]
    # prefix maxima of revision over ops ordered by return time
    top: list[Op] = []
    for op in by_ret:
        assert op.revision is not None
        if not top or op.revision > (top[-1].revision or 0):
            top.append(op)
        else:
            top.append(top[-1])
    for op in answered:
        done = bisect.bisect_left(rets, op.call)  # ops returned strictly before this call
        if not done:
            continue
        before = top[done - 1]
        assert op.revision is not None and before.revision is not None
        if op.revision < before.revision or (_bumps(op) and op.revision == before.revision):
            return Verdict(
                False,
                "revision went backwards in real time: this op returned\n"
                f"  {_show(before)}\nbefore this one was called\n  {_show(op)}",
            )
    return OK
