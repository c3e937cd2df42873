"""Each recipe checker accepts hand-made good records and flags one bad record per claim."""

from __future__ import annotations

import dataclasses

from tests.robustness.recipe_checks import (
    check_election,
    check_leases,
    check_lock,
    check_queue,
    check_recipes,
)
from tests.robustness.recipe_history import (
    Ack,
    Acquisition,
    Candidacy,
    Delivery,
    Enqueue,
    FencedWrite,
    FinalLeader,
    Leadership,
    LeaseRecord,
    LossNotice,
    Observation,
    Proclamation,
    RecipeRecords,
)

LOCK_A, LOCK_B = b"lock/a", b"lock/b"


def lock_records() -> RecipeRecords:
    """a holds token 10 and writes twice; b takes over with token 20 and writes once;
    a's second holding (token 30) loses its session, is told, and is refused."""
    return RecipeRecords(
        acquisitions=[
            Acquisition("a", LOCK_A, 10, 1.0, 2.0, "released"),
            Acquisition("b", LOCK_B, 20, 1.5, 3.0, "released"),
            Acquisition("a", LOCK_A, 30, 3.5, 6.0, "lost"),
        ],
        fenced_writes=[
            FencedWrite("a", 10, 1.1, 1.2, "ok", 11),
            FencedWrite("a", 10, 1.3, 1.4, "ok", 12),
            FencedWrite("a", 10, 1.5, None, "unknown"),
            FencedWrite("b", 20, 2.1, 2.2, "ok", 21),
            FencedWrite("a", 30, 3.6, 3.7, "ok", 31),
            FencedWrite("a", 30, 5.0, 5.1, "refused", 40),
        ],
        loss_notices=[LossNotice("a", 30, 4.9, "no keep-alive confirmed")],
    )


def test_good_lock_records_pass() -> None:
    assert check_lock(lock_records()).ok, check_lock(lock_records()).explanation
    assert check_lock(RecipeRecords()).ok


def test_lock_flags_a_token_held_by_two_holders() -> None:
    records = lock_records()
    records.acquisitions.append(Acquisition("b", LOCK_B, 10, 1.0, 2.0, "released"))
    verdict = check_lock(records)
    assert not verdict.ok and "token 10 held by a and b" in verdict.explanation


def test_lock_flags_an_older_token_writing_after_a_newer_one() -> None:
    records = lock_records()
    # a, deposed, still manages a write after b's (the fencing failed)
    records.fenced_writes.append(FencedWrite("a", 10, 2.3, 2.4, "ok", 22))
    verdict = check_lock(records)
    assert not verdict.ok
    assert "token 10 at revision 22 after b's write with newer token 20" in verdict.explanation


def test_lock_flags_a_write_with_a_token_the_holder_never_held() -> None:
    records = lock_records()
    records.fenced_writes.append(FencedWrite("b", 30, 3.8, 3.9, "ok", 32))
    verdict = check_lock(records)
    assert not verdict.ok and "b with token 30 it never held" in verdict.explanation


def test_lock_flags_a_write_before_its_token_existed() -> None:
    records = lock_records()
    records.fenced_writes[0] = dataclasses.replace(records.fenced_writes[0], revision=9)
    verdict = check_lock(records)
    assert not verdict.ok and "write at 9 before its token 10" in verdict.explanation


def test_lock_flags_a_refusal_before_the_client_told_of_the_loss() -> None:
    late = lock_records()
    late.loss_notices[0] = dataclasses.replace(late.loss_notices[0], at=5.2)
    verdict = check_lock(late)
    assert not verdict.ok and "refused at 5.100" in verdict.explanation
    assert "only at 5.200" in verdict.explanation
    never = lock_records()
    never.loss_notices.clear()
    verdict = check_lock(never)
    assert not verdict.ok and "was lost never" in verdict.explanation


KEY_A, KEY_B = b"election/a", b"election/b"


def election_records() -> RecipeRecords:
    """a leads term 10 (proclaims a-2), resigns; b leads term 20 and keeps it; a third
    campaign of a's (key KEY_A, a new term) failed with an error but led unseen."""
    return RecipeRecords(
        candidacies=[
            Candidacy("a", KEY_A, b"a-1", "won"),
            Candidacy("b", KEY_B, b"b-1", "won"),
            Candidacy("a", KEY_A, b"a-3", "error"),
        ],
        leaderships=[
            Leadership("a", KEY_A, 10, b"a-1", 1.0, 2.0, "resigned"),
            Leadership("b", KEY_B, 20, b"b-1", 2.1, 5.0, "kept"),
        ],
        proclamations=[
            Proclamation("a", KEY_A, 10, b"a-2", 1.2, 1.3, "ok", 12),
            Proclamation("b", KEY_B, 20, b"b-2", 2.5, None, "unknown"),
            Proclamation("b", KEY_B, 20, b"b-3", 2.7, 2.8, "ok", 25),
        ],
        observations=[
            Observation("o", KEY_A, 10, 10, b"a-1", 1.05),
            Observation("o", KEY_A, 10, 12, b"a-2", 1.35),
            Observation("o", KEY_B, 20, 23, b"b-2", 2.6),
            Observation("o", KEY_B, 20, 25, b"b-3", 2.85),
            Observation("p", KEY_B, 20, 25, b"b-3", 3.0),
        ],
        final_leader=FinalLeader(KEY_B, 20, 25, b"b-3"),
        converged=True,
    )


def test_good_election_records_pass() -> None:
    records = election_records()
    assert check_election(records).ok, check_election(records).explanation
    # an observation of a campaign that failed with an error: it may have led unseen
    records.observations.insert(2, Observation("o", KEY_A, 15, 15, b"a-3", 2.0))
    assert check_election(records).ok, check_election(records).explanation
    # a campaign that timed out as its predecessor went led until it withdrew (seen in
    # a server_ref run: seed 1301)
    records.candidacies.append(Candidacy("b", KEY_B, b"b-4", "timeout"))
    records.observations.append(Observation("o", KEY_B, 30, 30, b"b-4", 5.5))
    records.final_leader = FinalLeader(KEY_B, 30, 30, b"b-4")
    records.observations.append(Observation("p", KEY_B, 30, 30, b"b-4", 5.6))
    assert check_election(records).ok, check_election(records).explanation
    assert check_election(RecipeRecords()).ok


def test_election_flags_two_leaders_of_one_term() -> None:
    records = election_records()
    records.leaderships.append(Leadership("b", KEY_B, 10, b"b-0", 1.0, 1.5, "resigned"))
    verdict = check_election(records)
    assert not verdict.ok and "term 10 led by" in verdict.explanation


def test_election_flags_a_deposed_leader_proclaiming_after_a_newer_one() -> None:
    records = election_records()
    records.proclamations.append(Proclamation("a", KEY_A, 10, b"a-9", 3.0, 3.1, "ok", 26))
    verdict = check_election(records)
    assert not verdict.ok and "in term 10 at revision 26 after b" in verdict.explanation


def test_election_flags_a_proclamation_in_a_term_not_won() -> None:
    records = election_records()
    records.proclamations.append(Proclamation("a", KEY_A, 20, b"a-9", 3.0, 3.1, "ok", 27))
    verdict = check_election(records)
    assert not verdict.ok and "a proclaimed in term 20 it never won" in verdict.explanation


def test_election_flags_an_observed_leader_nobody_was() -> None:
    records = election_records()
    records.observations.append(Observation("p", b"election/z", 30, 30, b"z", 4.0))
    verdict = check_election(records)
    assert not verdict.ok and "nobody won it" in verdict.explanation


def test_election_flags_an_observed_value_never_set() -> None:
    records = election_records()
    records.observations.append(Observation("p", KEY_B, 20, 26, b"b-9", 4.0))
    verdict = check_election(records)
    assert not verdict.ok and "value b'b-9' never set" in verdict.explanation


def test_election_flags_an_observer_going_back_a_term() -> None:
    records = election_records()
    records.observations.append(Observation("o", KEY_A, 10, 12, b"a-2", 4.0))
    verdict = check_election(records)
    assert not verdict.ok and "o went back from term 20 to term 10" in verdict.explanation


def test_election_flags_observers_that_did_not_converge() -> None:
    stale = election_records()
    stale.observations.pop()  # p last reported an older value of the final leader
    stale.observations.append(Observation("p", KEY_B, 20, 23, b"b-2", 3.0))
    verdict = check_election(stale)
    assert not verdict.ok and "did not converge" in verdict.explanation
    unfinished = election_records()
    unfinished.converged = False
    assert not check_election(unfinished).ok


ACK_Q, PLAIN_Q = "q-ack", "q-plain"


def queue_records() -> RecipeRecords:
    """ack queue: x delivered twice (its first claim lost), acked once; y put with an
    unknown outcome and never seen. plain queue: z once; w unknown, delivered once."""
    return RecipeRecords(
        enqueues=[
            Enqueue(ACK_Q, "p", b"x", 1.0, 1.1, "ok"),
            Enqueue(ACK_Q, "p", b"y", 1.2, None, "unknown"),
            Enqueue(ACK_Q, "p", b"f", 1.3, 1.4, "failed"),
            Enqueue(PLAIN_Q, "p", b"z", 1.0, 1.1, "ok"),
            Enqueue(PLAIN_Q, "p", b"w", 1.2, None, "unknown"),
        ],
        deliveries=[
            Delivery(ACK_Q, "c0", b"x", 1.5),
            Delivery(ACK_Q, "c1", b"x", 5.0),
            Delivery(PLAIN_Q, "c2", b"z", 1.5),
            Delivery(PLAIN_Q, "c2", b"w", 1.6),
        ],
        acks=[Ack(ACK_Q, "c0", b"x", 4.0, "lost"), Ack(ACK_Q, "c1", b"x", 5.1, "ok")],
        drained={ACK_Q: True, PLAIN_Q: True},
        ack_mode={ACK_Q: True, PLAIN_Q: False},
    )


def test_good_queue_records_pass() -> None:
    assert check_queue(queue_records()).ok, check_queue(queue_records()).explanation


def test_queue_flags_an_item_never_put_or_put_and_refused() -> None:
    records = queue_records()
    records.deliveries.append(Delivery(PLAIN_Q, "c2", b"ghost", 2.0))
    verdict = check_queue(records)
    assert not verdict.ok and "got b'ghost' from q-plain (never put)" in verdict.explanation
    records = queue_records()
    records.deliveries.append(Delivery(ACK_Q, "c0", b"f", 2.0))
    verdict = check_queue(records)
    assert not verdict.ok and "(failed)" in verdict.explanation


def test_queue_flags_an_ack_mode_item_acked_twice() -> None:
    records = queue_records()
    records.acks.append(Ack(ACK_Q, "c0", b"x", 6.0, "ok"))
    verdict = check_queue(records)
    assert not verdict.ok and "acked more than once: [b'x']" in verdict.explanation


def test_queue_flags_an_acknowledged_put_never_delivered_in_ack_mode() -> None:
    records = queue_records()
    records.enqueues.append(Enqueue(ACK_Q, "p", b"lost", 2.0, 2.1, "ok"))
    verdict = check_queue(records)
    assert not verdict.ok and "never delivered: [b'lost']" in verdict.explanation
    records = queue_records()
    records.drained[ACK_Q] = False
    verdict = check_queue(records)
    assert not verdict.ok and "not emptied" in verdict.explanation


def test_queue_flags_a_default_mode_item_delivered_twice() -> None:
    records = queue_records()
    records.deliveries.append(Delivery(PLAIN_Q, "c3", b"z", 2.0))
    verdict = check_queue(records)
    assert not verdict.ok and "q-plain: delivered more than once: [b'z']" in verdict.explanation


def lease_records() -> RecipeRecords:
    return RecipeRecords(
        leases=[
            LeaseRecord("k", 0xA, 2, 0.0, None, None, 2, 9.0),  # alive, never lost
            LeaseRecord("k", 0xB, 2, 0.0, 4.0, "no keep-alive", -1, 9.0),  # lost, reported
            LeaseRecord("k", 0xC, 2, 0.0, 4.0, "no keep-alive", 1, 9.0),  # reported, exists
            LeaseRecord("k", 0xD, 2, 0.0, None, None, None, None),  # not checked
        ]
    )


def test_good_lease_records_pass() -> None:
    assert check_leases(lease_records()).ok


def test_leases_flag_a_lease_gone_unreported_or_reported_late() -> None:
    records = lease_records()
    records.leases.append(LeaseRecord("k", 0xE, 2, 0.0, None, None, -1, 9.0))
    verdict = check_leases(records)
    assert not verdict.ok and "lease e gone at 9.000" in verdict.explanation
    assert "reported it lost never" in verdict.explanation
    records = lease_records()
    records.leases.append(LeaseRecord("k", 0xF, 2, 0.0, 9.5, "expired", -1, 9.0))
    verdict = check_leases(records)
    assert not verdict.ok and "only at 9.500" in verdict.explanation


def test_check_recipes_names_every_checker() -> None:
    verdicts = check_recipes(RecipeRecords())
    assert sorted(verdicts) == ["election", "leases", "lock", "queue"]
    assert all(v.ok for v in verdicts.values())
