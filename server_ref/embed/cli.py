"""``etcd3py-server`` / ``python -m etcd3py.server_ref``: run a reference member.

Flags carry etcd's names, so a test harness can start either server the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys

from ..server.server import DEFAULT_MAX_REQUEST_BYTES, Node, NodeConfig
from .member import Member

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string such as ``10m``, ``1s`` or ``1m30s``."""
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (expected e.g. 500ms, 10m)")
    return total


def _urls(text: str) -> list[str]:
    return [u.strip() for u in text.split(",") if u.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="etcd3py-server",
        description="etcd3py reference server: the etcd v3 gRPC API, in memory.",
    )
    p.add_argument("--name", default="default", help="member name (default: %(default)s)")
    p.add_argument(
        "--listen-client-urls",
        type=_urls,
        default=["http://localhost:2379"],
        help="comma-separated URLs to serve clients on",
    )
    p.add_argument(
        "--advertise-client-urls",
        type=_urls,
        default=None,
        help="client URLs reported by MemberList (default: the listen URLs)",
    )
    p.add_argument(
        "--initial-advertise-peer-urls",
        type=_urls,
        default=["http://localhost:2380"],
        help="peer URLs; with the token they determine the member id",
    )
    p.add_argument("--initial-cluster-token", default="etcd-cluster")
    p.add_argument("--max-txn-ops", type=int, default=128)
    p.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES)
    p.add_argument(
        "--experimental-watch-progress-notify-interval",
        type=parse_duration,
        default=600.0,
        metavar="DURATION",
    )
    p.add_argument(
        "--min-lease-ttl",
        type=int,
        default=2,
        help="smallest lease TTL granted, seconds (etcd derives 2 from its "
        "default election timeout)",
    )
    return p


async def _serve(args: argparse.Namespace) -> None:
    config = NodeConfig(
        name=args.name,
        peer_urls=args.initial_advertise_peer_urls,
        cluster_token=args.initial_cluster_token,
        min_lease_ttl=args.min_lease_ttl,
        max_txn_ops=args.max_txn_ops,
        max_request_bytes=args.max_request_bytes,
        progress_notify_interval=args.experimental_watch_progress_notify_interval,
    )
    node = Node(config)
    if args.advertise_client_urls:
        node.members[0].client_urls = list(args.advertise_client_urls)
    member = Member(node, args.listen_client_urls)
    await member.start()
    urls = ", ".join(member.url_for(i) for i in range(len(member.ports)))
    print(
        f"etcd3py reference server {args.name!r} (member {member.member_id:x}) "
        f"serving clients on {urls}",
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await member.stop(grace=1.0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except OSError as err:
        print(f"etcd3py-server: {err}", file=sys.stderr)
        return 1
    return 0
