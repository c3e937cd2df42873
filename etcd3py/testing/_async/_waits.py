"""Waiting with a deadline: for any condition, or for a key to hold a value.

Tests wait for what they expect instead of sleeping: a wait returns as soon as the
condition holds and fails (WaitTimeout) when its deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from etcd3py import AsyncClient, EventType, KeyValue
from etcd3py._async._primitives import sleep
from etcd3py._keys import to_bytes

from .._errors import WaitTimeout

DEFAULT_TIMEOUT = 5.0
POLL_INTERVAL = 0.01  # between two looks at a condition nothing notifies us of


async def wait_until(
    predicate: Callable[[], Awaitable[object]],
    timeout: float = DEFAULT_TIMEOUT,
    *,
    interval: float = POLL_INTERVAL,
    message: str = "the condition",
) -> object:
    """Call ``predicate`` until it returns something true; return that.

    Raises WaitTimeout when ``timeout`` seconds pass first. For conditions etcd can
    notify (a key's value), ``wait_for_key`` watches instead of polling.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"{message} did not hold within {timeout} s (last: {result!r})")
        await sleep(min(interval, left))


async def wait_for_key(
    client: AsyncClient,
    key: str | bytes,
    value: str | bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> KeyValue:
    """Wait until ``key`` exists (with ``value``, when given); return its KeyValue.

    Reads the key, then watches it from the next revision, so a change is seen the
    moment etcd applies it and none is missed in between.
    """
    wanted = None if value is None else to_bytes(value, "value")
    deadline = time.monotonic() + timeout
    response = await client.get(key, timeout=timeout)
    seen = response.kvs[0] if response.kvs else None
    if seen is not None and (wanted is None or seen.value == wanted):
        return seen
    async with client.watch(key, start_revision=response.header.revision + 1) as watch:
        while (left := deadline - time.monotonic()) > 0:
            for event in await watch.events(timeout=left):
                seen = event.kv if event.type == EventType.PUT else None
                if seen is not None and (wanted is None or seen.value == wanted):
                    return seen
    shown = "any value" if wanted is None else repr(wanted)
    last = "absent" if seen is None else repr(seen.value)
    raise WaitTimeout(f"{key!r} did not get {shown} within {timeout} s (last: {last})")
