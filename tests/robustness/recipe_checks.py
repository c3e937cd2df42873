"""Checkers of the recipe workloads' records: lock safety, election, queue, leases.

Each is a pure function of a RecipeRecords and answers a Verdict naming the first
violation it found.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from .recipe_history import RecipeRecords
from .verdict import OK, Verdict


def check_lock(records: RecipeRecords) -> Verdict:
    """Fenced writes never interleave between holders, and a refused one is told first.

    - a token (lock key create revision) belongs to one holder;
    - a write that succeeded came from a holding of that holder with that token and
      landed after the token's key was made (revision > token);
    - ordered by revision, successful writes never go back to an older token;
    - a write refused while the holder held the lock is refused only because its key
      went with its session: the client must have said so by the refusal's return.
    """
    owner: dict[int, str] = {}
    for a in records.acquisitions:
        if owner.setdefault(a.token, a.holder) != a.holder:
            return Verdict(False, f"token {a.token} held by {owner[a.token]} and {a.holder}")
    written = sorted(
        (w for w in records.fenced_writes if w.outcome == "ok"), key=lambda w: w.revision or 0
    )
    newest = None
    for w in written:
        assert w.revision is not None
        if owner.get(w.token) != w.holder:
            return Verdict(False, f"write by {w.holder} with token {w.token} it never held: {w}")
        if w.revision <= w.token:
            return Verdict(False, f"write at {w.revision} before its token {w.token}'s key: {w}")
        if newest is not None and w.token < newest.token:
            return Verdict(
                False,
                f"{w.holder}'s write with token {w.token} at revision {w.revision} after "
                f"{newest.holder}'s write with newer token {newest.token} at {newest.revision}",
            )
        newest = w
    notices = {(n.holder, n.token): n.at for n in records.loss_notices}
    for w in records.fenced_writes:
        if w.outcome != "refused":
            continue
        told = notices.get((w.holder, w.token))
        assert w.ret is not None
        if told is None or told > w.ret:
            when = "never" if told is None else f"only at {told:.3f}"
            return Verdict(
                False,
                f"{w.holder}'s fenced write with token {w.token} refused at {w.ret:.3f}; "
                f"the client told it the session was lost {when}",
            )
    return OK


# campaign outcomes whose key may have led although no Leadership was recorded
UNSEEN_LEADS = ("error", "timeout", "lost")


def check_election(records: RecipeRecords) -> Verdict:
    """At most one leader per term, terms only grow, observers agree and converge.

    - a term (leader key create revision) belongs to one candidate and one key;
    - ordered by revision, successful proclamations never go back to an older term,
      and each lands after its term began;
    - every observation is of a leadership someone won (key and term) -- or of the key
      of a campaign that may have led without knowing: one that failed with an error,
      one that timed out just as its predecessor went (it withdraws: a brief leader),
      one that lost its session right after winning --
      with a value campaigned with or proclaimed on that key (or maybe: unknown);
    - each observer's terms never decrease;
    - when the run ended with a leader, each observer's last report is that leader.
    """
    leader_of: dict[int, tuple[str, bytes]] = {}
    for lead in records.leaderships:
        who = (lead.candidate, lead.key)
        if leader_of.setdefault(lead.term, who) != who:
            return Verdict(False, f"term {lead.term} led by {leader_of[lead.term]} and {who}")
    spoken = sorted(
        (p for p in records.proclamations if p.outcome == "ok"), key=lambda p: p.revision or 0
    )
    newest = None
    for p in spoken:
        assert p.revision is not None
        if leader_of.get(p.term, ("",))[0] != p.candidate:
            return Verdict(False, f"{p.candidate} proclaimed in term {p.term} it never won")
        if p.revision <= p.term:
            return Verdict(False, f"proclamation at {p.revision} before term {p.term} began")
        if newest is not None and p.term < newest.term:
            return Verdict(
                False,
                f"{p.candidate} proclaimed in term {p.term} at revision {p.revision} after "
                f"{newest.candidate} proclaimed in newer term {newest.term}",
            )
        newest = p
    values: dict[bytes, set[bytes]] = defaultdict(set)  # leader key -> values it may hold
    for c in records.candidacies:
        values[c.key].add(c.value)
    for p in records.proclamations:
        if p.outcome in ("ok", "unknown"):
            values[p.key].add(p.value)
    unseen = {c.key for c in records.candidacies if c.outcome in UNSEEN_LEADS}
    last: dict[str, tuple[int, bytes, int]] = {}
    for o in sorted(records.observations, key=lambda o: o.at):
        won = leader_of.get(o.term)
        if (won is None and o.key not in unseen) or (won is not None and won[1] != o.key):
            return Verdict(False, f"{o.observer} saw {o.key!r} lead term {o.term}: nobody won it")
        if o.value not in values[o.key]:
            return Verdict(False, f"{o.observer} saw value {o.value!r} never set on {o.key!r}")
        seen = last.get(o.observer)
        if seen is not None and o.term < seen[0]:
            return Verdict(
                False, f"{o.observer} went back from term {seen[0]} to term {o.term} at {o.at:.3f}"
            )
        last[o.observer] = (o.term, o.value, o.mod_revision)
    final = records.final_leader
    if final is not None:
        want = (final.term, final.value, final.mod_revision)
        stale = {name: seen for name, seen in last.items() if seen != want}
        if stale or not records.converged:
            return Verdict(
                False, f"observers did not converge on {want} (term, value, mod): {stale}"
            )
    return OK


def check_queue(records: RecipeRecords) -> Verdict:
    """Nothing delivered that was not put; ack mode: at least once, acked at most once;
    default mode: at most once."""
    put: dict[str, dict[bytes, str]] = defaultdict(dict)
    for e in records.enqueues:
        put[e.queue][e.item] = e.outcome
    delivered: dict[str, Counter[bytes]] = defaultdict(Counter)
    for d in records.deliveries:
        if put[d.queue].get(d.item) not in ("ok", "unknown"):
            outcome = put[d.queue].get(d.item, "never put")
            return Verdict(False, f"{d.consumer} got {d.item!r} from {d.queue} ({outcome})")
        delivered[d.queue][d.item] += 1
    acked: dict[str, Counter[bytes]] = defaultdict(Counter)
    for a in records.acks:
        if a.outcome == "ok":
            acked[a.queue][a.item] += 1
    for queue, ack_mode in records.ack_mode.items():
        if ack_mode:
            twice = [item for item, n in acked[queue].items() if n > 1]
            if twice:
                return Verdict(False, f"{queue}: acked more than once: {twice[:5]}")
            if not records.drained.get(queue):
                return Verdict(False, f"{queue}: not emptied at the end, delivery not checkable")
            missing = [
                item
                for item, outcome in put[queue].items()
                if outcome == "ok" and not delivered[queue][item]
            ]
            if missing:
                return Verdict(False, f"{queue}: put but never delivered: {missing[:5]}")
        else:
            twice = [item for item, n in delivered[queue].items() if n > 1]
            if twice:
                return Verdict(False, f"{queue}: delivered more than once: {twice[:5]}")
    return OK


def check_leases(records: RecipeRecords) -> Verdict:
    """A lease etcd no longer knows at the end was reported lost by then; every lease the
    client did not report lost still exists."""
    for lease in records.leases:
        if lease.end_ttl is None or lease.end_ttl > 0:
            continue
        assert lease.checked_at is not None
        if lease.lost_at is None or lease.lost_at > lease.checked_at:
            when = "never" if lease.lost_at is None else f"only at {lease.lost_at:.3f}"
            return Verdict(
                False,
                f"{lease.keeper}'s lease {lease.lease_id:x} gone at {lease.checked_at:.3f} "
                f"(TTL {lease.end_ttl}); the client reported it lost {when}",
            )
    return OK


CHECKS = (
    ("lock", check_lock),
    ("election", check_election),
    ("queue", check_queue),
    ("leases", check_leases),
)


def check_recipes(records: RecipeRecords) -> dict[str, Verdict]:
    return {name: checker(records) for name, checker in CHECKS}
