"""How soon a Mutex holder is told that it lost the lock, on server_ref and etcd 3.5.1.

    python benchmarks/loss_detection.py [--trials 30] [--ttl 30] [--hold 0.2]

Each trial acquires a Mutex (a session of ``--ttl`` seconds of its own), holds it
``--hold`` seconds, then another client deletes the lock's key (or revokes its
lease); the delay is from just before that call to the holder's ``on_lost``
callback. Without the watch on the key the holder would learn of a revoke only at
its next keep-alive (up to TTL/3 later), and of a delete never (its lease lives
on). Reported for the async and the sync face: median, 90th percentile and worst,
in milliseconds, and how the loss was told
(the watch: "deleted at revision"; the read made once the watch exists: "found
gone"; or the keep-alive: "lease was lost").
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.etcd_server import EtcdServer  # noqa: E402
from etcd3py import AsyncClient, Client, LockNotHeldError  # noqa: E402
from etcd3py.recipes import AsyncMutex, Mutex  # noqa: E402
from etcd3py.server_ref import EmbeddedServer  # noqa: E402

WAIT = 30.0


def told_by(reason: str) -> str:
    if "deleted at revision" in reason:
        return "watch"
    return "keep-alive" if "lease was lost" in reason else "read after watch start"


async def async_trials(
    endpoint: str, fault: str, trials: int, ttl: int, hold: float
) -> list[tuple[float, str]]:
    found = []
    async with AsyncClient(endpoint) as mine, AsyncClient(endpoint) as other:
        for i in range(trials):
            holder = AsyncMutex(mine, f"loss/{fault}/{i}", ttl=ttl)
            assert await holder.acquire(timeout=WAIT)
            told = asyncio.Event()
            seen: list[tuple[float, str]] = []

            def lost(reason: str, seen: list[tuple[float, str]] = seen, told: Any = told) -> None:
                seen.append((time.monotonic(), reason))
                told.set()

            holder.on_lost(lost)
            assert holder.session is not None
            await asyncio.sleep(hold)  # held a while: its watch is in place
            started = time.monotonic()
            if fault == "delete":
                await other.delete(holder.key)
            else:
                await other.revoke(holder.session.lease_id)
            await asyncio.wait_for(told.wait(), WAIT)
            found.append((seen[0][0] - started, told_by(seen[0][1])))
            with contextlib.suppress(LockNotHeldError):  # the loss, reported again
                await holder.release()
    return found


def sync_trials(
    endpoint: str, fault: str, trials: int, ttl: int, hold: float
) -> list[tuple[float, str]]:
    found = []
    with Client(endpoint) as mine, Client(endpoint) as other:
        for i in range(trials):
            holder = Mutex(mine, f"loss/sync-{fault}/{i}", ttl=ttl)
            assert holder.acquire(timeout=WAIT)
            told = threading.Event()
            seen: list[tuple[float, str]] = []

            def lost(reason: str, seen: list[tuple[float, str]] = seen, told: Any = told) -> None:
                seen.append((time.monotonic(), reason))
                told.set()

            holder.on_lost(lost)
            assert holder.session is not None
            time.sleep(hold)  # held a while: its watch is in place
            started = time.monotonic()
            if fault == "delete":
                other.delete(holder.key)
            else:
                other.revoke(holder.session.lease_id)
            assert told.wait(WAIT)
            found.append((seen[0][0] - started, told_by(seen[0][1])))
            with contextlib.suppress(LockNotHeldError):  # the loss, reported again
                holder.release()
    return found


def summary(found: list[tuple[float, str]]) -> str:
    delays = sorted(d * 1000 for d, _ in found)
    p90 = delays[min(len(delays) - 1, int(len(delays) * 0.9))]
    paths = ", ".join(f"{path} {n}" for path, n in Counter(p for _, p in found).items())
    return (
        f"median {statistics.median(delays):6.1f}  p90 {p90:6.1f}  "
        f"worst {delays[-1]:6.1f} ms  (told by: {paths})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--ttl", type=int, default=30)
    parser.add_argument("--hold", type=float, default=0.2, help="seconds held before the fault")
    args = parser.parse_args()
    logging.getLogger("etcd3py").setLevel(logging.ERROR)  # each loss logs a WARNING
    print(
        f"Mutex loss detection, {args.trials} trials each, session TTL {args.ttl}s,"
        f" fault after {args.hold}s held"
    )
    print(f"(the keep-alive path alone: up to TTL/3 = {args.ttl / 3 * 1000:.0f} ms for a revoke)")
    with EmbeddedServer() as ref, EtcdServer() as etcd:
        for name, endpoint in (("server_ref", ref.endpoint), ("etcd 3.5.1", etcd.endpoint)):
            for fault in ("delete", "revoke"):
                found = asyncio.run(async_trials(endpoint, fault, args.trials, args.ttl, args.hold))
                print(f"{name:11} {fault:6} async: {summary(found)}")
                found = sync_trials(endpoint, fault, args.trials, args.ttl, args.hold)
                print(f"{name:11} {fault:6} sync:  {summary(found)}")


if __name__ == "__main__":
    main()
