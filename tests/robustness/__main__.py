"""``python -m tests.robustness --target etcd|server_ref --duration S --seed N --clients C
--profile kv|recipes|all`` (``--rate R``: KV calls a second over all clients;
``--failpoints a,b``: only those; ``--broken MODE``: a deliberate bug the checkers must flag)

Runs traffic under failpoints against a fresh 3-member cluster, checks the history,
prints a summary; saves the run as JSON and exits 1 when a check fails (or the harness
itself broke: a client crashed, the cluster stayed down, a watcher fell behind).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from .failpoints import COMMON, REF_ONLY
from .runner import PROFILES, run, save
from .traffic import BROKEN_MODES, DEFAULT_RATE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.robustness")
    parser.add_argument("--target", choices=("etcd", "server_ref"), default="server_ref")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of traffic")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="KV calls a second, all clients together"
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="all",
        help="kv: KV traffic and watchers; recipes: lock, election, queue, lease workloads",
    )
    parser.add_argument(
        "--broken",
        choices=BROKEN_MODES,
        default=None,
        help="a deliberate bug the checkers must flag (stale-reads: server_ref only)",
    )
    parser.add_argument(
        "--failpoints",
        default=None,
        help=f"comma-separated subset of: {', '.join(sorted({**COMMON, **REF_ONLY}))}",
    )
    parser.add_argument(
        "--save",
        type=Path,
        default=None,
        help="where the run's JSON goes (by default a failed run's only)",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    only = args.failpoints.split(",") if args.failpoints else None
    result = run(
        args.target,
        args.duration,
        seed,
        args.clients,
        args.rate,
        profile=args.profile,
        broken=args.broken,
        failpoints=only,
    )
    print(result.summary())
    passed = result.verdicts.ok and not result.problems
    if args.save is not None or not passed:
        path = args.save or Path(f"robustness-{args.target}-{seed}.json")
        save(result, path)
        print(f"history saved to {path}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
