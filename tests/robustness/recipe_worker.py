"""What every recipe workload thread shares: its seeded choices, its error counts, the
run's Clock and records, and the namespace the workloads' keys live under (outside the
KV traffic's prefix). TTLs are short so that the failpoints (outages of up to 1.5 s plus
an election) now and then cost a session, and the loss paths are exercised.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .recipe_history import RecipeRecords
from .traffic import ClientStats, Clock, not_applied

NAMESPACE = b"/robustness-recipes/"


def outcome_of(err: BaseException) -> str:
    return "failed" if not_applied(err) else "unknown"


@dataclass(frozen=True)
class Shared:
    """What every worker of a run shares."""

    endpoints: list[str]
    seed: int
    clock: Clock
    records: RecipeRecords  # list appends are atomic: the workers share it
    # a deliberately broken lock holder, for proving the lock checker on a real run:
    # writes without the fencing compare, and goes on writing after its release
    broken_lock: bool = False


class Worker(threading.Thread):
    """A workload thread: its seeded choices, its error counts, a crash kept for the run."""

    def __init__(self, name: str, shared: Shared, stop: threading.Event) -> None:
        super().__init__(name=f"robustness-{name}", daemon=True)
        self.label = name
        self.endpoints = shared.endpoints
        self.rng = random.Random(f"{shared.seed}/recipes/{name}")
        self.clock = shared.clock
        self.records = shared.records
        self.halt = stop
        self.stats = ClientStats()
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            self.body()
        except BaseException as err:  # reported by the run, not lost in a thread
            self.crash = err

    def body(self) -> None:
        raise NotImplementedError

    def failed(self, err: BaseException) -> None:
        """Count an error and back off a little (the cluster may be electing)."""
        self.stats.count(err)
        self.halt.wait(0.1)

    def pause(self, low: float, high: float) -> bool:
        """Wait a seeded while; True when the run is stopping."""
        return self.halt.wait(self.rng.uniform(low, high))
