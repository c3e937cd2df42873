"""The one backoff rule (etcd3py._retry): full jitter under a step that doubles from
25 ms to a cap, and never past a deadline."""

from __future__ import annotations

import time

import pytest

from etcd3py._retry import FIRST_PAUSE, MOST_PAUSE, Backoff, jittered_pause


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 7, 20])
def test_a_pause_stays_under_its_step(attempt: int) -> None:
    step = min(MOST_PAUSE, FIRST_PAUSE * 2 ** (attempt - 1))
    pauses = [jittered_pause(attempt) for _ in range(2000)]
    assert all(0.0 <= p <= step for p in pauses)
    # full jitter: spread over the whole step, not bunched at its end
    assert min(pauses) < step * 0.1 and max(pauses) > step * 0.9


def test_the_cap_is_the_callers() -> None:
    assert all(jittered_pause(30, most=0.2) <= 0.2 for _ in range(500))
    assert max(jittered_pause(30, most=3.0) for _ in range(500)) > MOST_PAUSE


def test_a_backoff_steps_up_one_attempt_at_a_time() -> None:
    firsts = [Backoff().pause() for _ in range(300)]
    sevenths = []
    for _ in range(300):
        backoff = Backoff()
        for _ in range(6):
            backoff.pause()
        sevenths.append(backoff.pause())
    assert max(firsts) <= FIRST_PAUSE
    assert FIRST_PAUSE * 8 < max(sevenths) <= MOST_PAUSE


def test_no_pause_that_would_reach_the_deadline() -> None:
    assert Backoff(deadline=time.monotonic() - 1).next() is None
    assert Backoff(deadline=time.monotonic() + 5).next() is not None
    with pytest.raises(RuntimeError):
        Backoff(deadline=time.monotonic() - 1).pause()
