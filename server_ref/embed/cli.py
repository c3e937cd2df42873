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

from ..auth.tokens import InvalidAuthOptions
from ..cluster.bootstrap import ClusterConfigError
from ..cluster.errors import PeerError
from ..cluster.tcp import TcpTransport, fetch_from
from ..cluster.timing import TimingError
from ..storage.datadir import DataDirError
from ..storage.wal import WalError
from . import restore
from .cluster_member import cluster_settings, disk_storage, start_member
from .config import Config, Flag
from .member import ListenUrlError, Member
from .running import make_server
from .tls import TlsSetupError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="etcd3py-server",
        epilog="Also: etcd3py-server snapshot restore FILE --data-dir DIR (etcdutl's command; "
        "snapshot restore --help for its flags).",
        description="etcd3py reference server: the etcd v3 gRPC API, with etcd's flags.",
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
            nargs="?" if flag.boolean else None,  # Go style: --flag alone means true
            const=True if flag.boolean else None,
        )
    return p


async def _serve_in_cluster(config: Config) -> None:
    """A member of a Raft cluster, talking to its peers over TCP on its peer URLs."""
    config.client_tls().check_urls(config.listen_client_urls)
    settings = cluster_settings(config)
    persisted, new_storage = disk_storage(config)
    listen_peers = config.listen_peer_urls or config.peer_urls
    stopping = asyncio.Event()
    running = await start_member(
        config,
        settings,
        persisted=persisted,
        new_storage=new_storage,
        make_transport=lambda raft: TcpTransport(
            raft.node.id, raft.server.cluster_id, listen_peers, raft
        ),
        fetch_members=fetch_from,
        on_removed=stopping.set,
    )
    raft, member = running.raft, running.grpc
    urls = ", ".join(member.url_for(i) for i in range(len(member.ports)))
    where = "in memory" if config.data_dir is None else f"on {config.data_dir}"
    print(
        f"etcd3py reference server {config.name!r} (member {raft.node.id:x} of cluster "
        f"{raft.server.cluster_id:x}) serving clients on {urls}, peers on "
        f"{', '.join(listen_peers)}, data {where}",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    if raft.fatal is not None:
        print(f"etcd3py-server: the member stopped: {raft.fatal}", file=sys.stderr)
        await running.stop(grace=1.0)
        raise SystemExit(1)
    if raft.stopped:
        print("etcd3py-server: the member has been permanently removed from the cluster")
    await running.stop(grace=1.0)


async def _serve(config: Config) -> None:
    if config.initial_cluster is not None:
        await _serve_in_cluster(config)
        return
    tls = config.client_tls()
    tls.check_urls(config.listen_client_urls)  # as etcd: before the data dir is touched
    server, durable = make_server(config)
    member = Member(
        server,
        config.listen_client_urls,
        tls,
        config.listen_client_http_urls,
        config.listen_metrics_urls,
    )
    try:
        await member.start()
    except BaseException:
        if durable is not None:
            await durable.close(crash=False)
        raise
    urls = ", ".join(member.url_for(i) for i in range(len(member.ports)))
    where = "in memory" if config.data_dir is None else f"on {config.data_dir}"
    print(
        f"etcd3py reference server {config.name!r} (member {member.member_id:x}) "
        f"serving clients on {urls}, data {where}",
        flush=True,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await member.stop(grace=1.0)
    if durable is not None:
        await durable.close(crash=False)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["snapshot", "restore"]:  # etcdutl's command, on our data directory
        return restore.main(argv[2:])
    args = build_parser().parse_args(argv)
    config = Config(**{s.name: getattr(args, s.name) for s in dataclasses.fields(Config)})
    try:
        asyncio.run(_serve(config))
    except (
        OSError,
        DataDirError,
        WalError,
        TlsSetupError,
        InvalidAuthOptions,
        ClusterConfigError,
        TimingError,
        PeerError,
        ListenUrlError,
    ) as err:
        print(f"etcd3py-server: {err}", file=sys.stderr)
        return 1
    return 0
