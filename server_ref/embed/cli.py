"""``etcd3py-server`` / ``python -m etcd3py.server_ref``: run a reference member.

Flags carry etcd's names, so a test harness can start either server the same way;
they are made from the settings table (config.py).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys

from ..server.server import EtcdServer
from .config import Config, Flag
from .member import Member


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="etcd3py-server",
        description="etcd3py reference server: the etcd v3 gRPC API, in memory.",
    )
    for setting in dataclasses.fields(Config):
        flag: Flag = setting.metadata["flag"]
        p.add_argument(
            flag.name,
            dest=setting.name,
            type=flag.parse,
            default=setting.default,
            metavar=flag.metavar,
            help=f"{flag.help} (default: {flag.show(setting.default)})",
        )
    return p


async def _serve(config: Config) -> None:
    member = Member(EtcdServer(config.server_config()), config.listen_client_urls)
    await member.start()
    urls = ", ".join(member.url_for(i) for i in range(len(member.ports)))
    print(
        f"etcd3py reference server {config.name!r} (member {member.member_id:x}) "
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
    config = Config(**{s.name: getattr(args, s.name) for s in dataclasses.fields(Config)})
    try:
        asyncio.run(_serve(config))
    except OSError as err:
        print(f"etcd3py-server: {err}", file=sys.stderr)
        return 1
    return 0
