"""The recipes' OpenTelemetry metrics (opentelemetry-api only; nothing is recorded
without an SDK meter provider). Waits are long next to the cost of recording, so the
instruments record unconditionally through the API's proxy."""

from __future__ import annotations

from opentelemetry import metrics

_meter = metrics.get_meter("etcd3py.recipes")
LOCK_WAIT = _meter.create_histogram(
    "etcd3py.recipes.lock.wait",
    unit="s",
    description="Time from asking for a lock to holding it (or giving up), by outcome",
)


def lock_waited(recipe: str, seconds: float, outcome: str) -> None:
    """``outcome``: "acquired", "timeout" or the name of the error raised."""
    LOCK_WAIT.record(seconds, {"etcd3py.recipe": recipe, "etcd3py.outcome": outcome})
