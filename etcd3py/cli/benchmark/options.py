"""The flags every benchmark command shares (etcd's persistent flags) and their types."""

from __future__ import annotations

from dataclasses import dataclass

import click

from ..gofmt import parse_go_duration

__all__ = ["CONSISTENCY", "GlobalOptions", "go_duration_option", "split_user"]


def go_duration_option(
    ctx: click.Context, param: click.Parameter, value: str | float | None
) -> float:
    """A click callback: a Go duration flag ("5s", "1m30s", "300ms", "0") in seconds."""
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    try:
        seconds = parse_go_duration(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a duration such as 5s, 1m30s or 300ms."
        ) from None
    if seconds < 0:
        raise click.BadParameter(f"{value!r} is negative.")
    return seconds


@dataclass(frozen=True)
class GlobalOptions:
    """What the group's flags say; each command reads it from ``ctx.obj``."""

    endpoints: tuple[str, ...]
    conns: int
    clients: int
    precise: bool
    sample: bool
    dial_timeout: float
    user: str | None
    cacert: str | None
    cert: str | None
    key: str | None
    target_leader: bool
    auto_sync_interval: float


def split_user(user: str) -> tuple[str, str | None]:
    """``name[:password]`` as (name, password or None: ask for it)."""
    name, colon, password = user.partition(":")
    return (name, password) if colon else (name, None)


CONSISTENCY = click.Choice(["l", "s"])  # etcd's --consistency: linearizable or serializable
