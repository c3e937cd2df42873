"""``python -m etcd3py.server_ref snapshot restore FILE --data-dir DIR``: etcdutl's command.

It turns a snapshot file -- saved from a real etcd with ``etcdctl snapshot save``, or
from server_ref -- into a server_ref data directory, so that a test server can start
with a copy of production data. As ``etcdutl snapshot restore`` does, it checks the
file's SHA-256 trailer (unless ``--skip-hash-check``, for a db copied out of a data
directory), keeps the key space, leases, alarms and auth as they are, and makes the
membership anew from the flags (``consistent_index`` = the number of members, term 1).
The data directory must not exist or be empty: nothing is ever overwritten, and a
restore that fails leaves nothing behind.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from ..server.membership import cluster_id, member_id
from ..storage.datadir import DataDir, DataDirError
from ..storage.etcd_db import EtcdDbError, Member, read_db, write_db
from ..storage.snapshot import SnapshotError, verify_snapshot
from ..storage.wal import Wal
from .config import DEFAULTS, parse_urls

DEFAULT_PEER_URL = DEFAULTS.peer_urls[0]


class RestoreError(Exception):
    """The snapshot cannot be restored; the message names the file or directory."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="etcd3py-server snapshot restore",
        description="Restore an etcd snapshot file into a server_ref data directory "
        "(etcdutl snapshot restore's flags).",
    )
    p.add_argument("file", help="the snapshot file (etcdctl snapshot save's output)")
    p.add_argument("--data-dir", help="the data directory to create (default: <name>.etcd)")
    p.add_argument("--name", default=DEFAULTS.name, help="this member's name")
    p.add_argument(
        "--initial-cluster",
        default=None,
        help="the cluster's members as name=peer-urls,... (default: <name>=<peer url>)",
    )
    p.add_argument("--initial-cluster-token", default=DEFAULTS.cluster_token)
    p.add_argument("--initial-advertise-peer-urls", type=parse_urls, default=(DEFAULT_PEER_URL,))
    p.add_argument(
        "--skip-hash-check",
        action="store_true",
        help="accept a db without the SHA-256 trailer (copied out of a data directory)",
    )
    return p


def restore(
    file: Path,
    data_dir: Path,
    *,
    name: str = DEFAULTS.name,
    initial_cluster: str | None = None,
    cluster_token: str = DEFAULTS.cluster_token,
    peer_urls: tuple[str, ...] = (DEFAULT_PEER_URL,),
    skip_hash_check: bool = False,
) -> str:
    """Restore ``file`` into ``data_dir``; return a line saying what was restored."""
    folder = DataDir(data_dir)
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise RestoreError(f"data-dir {str(data_dir)!r} not empty or could not be read")
    members = _members(initial_cluster or f"{name}={','.join(peer_urls)}", cluster_token)
    mine = [m for m in members if m.name == name]
    if not mine:
        raise RestoreError(f"--initial-cluster has no member named {name!r}")
    if len(members) > 1:
        raise RestoreError("server_ref runs one member: give --initial-cluster one member")
    try:
        data = file.read_bytes()
    except OSError as err:
        raise RestoreError(f"{file}: cannot be read: {err.strerror}") from None
    try:
        db = data if skip_hash_check else verify_snapshot(data, str(file))
        state = read_db(db, str(file))
    except (SnapshotError, EtcdDbError) as err:
        raise RestoreError(str(err)) from None
    restored = replace(
        state, members=members, removed_member_ids=[], consistent_index=len(members), term=1
    )
    identity = {
        "member_id": mine[0].id,
        "cluster_id": cluster_id(m.id for m in members),
        "name": name,
        "peer_urls": list(mine[0].peer_urls),
    }
    made = not data_dir.exists()
    try:
        folder.create(fsync=True)
        folder.write_db(write_db(restored), fsync=True)
        Wal.create(folder.wal, identity, term=1, index=len(members), fsync=True).close()
    except (OSError, DataDirError) as err:
        if made:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for child in data_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise RestoreError(f"data-dir {str(data_dir)!r}: {err}") from None
    return (
        f"restored snapshot {file} (revision {restored.revision}, "
        f"{sum(1 for r in restored.records if not r.tombstone)} key records, "
        f"{len(restored.leases)} leases) into {data_dir} as member {name!r} "
        f"({mine[0].id:x})"
    )


def _members(initial_cluster: str, token: str) -> list[Member]:
    """etcd's --initial-cluster: name=url[,name=url...], a name repeated for more URLs."""
    urls: dict[str, list[str]] = {}
    for part in initial_cluster.split(","):
        name, sep, url = part.strip().partition("=")
        if not sep or not name or not url:
            raise RestoreError(f"--initial-cluster: {part!r} is not name=peer-url")
        urls.setdefault(name, []).append(url)
    return [
        Member(member_id(peers, token), tuple(sorted(peers)), name) for name, peers in urls.items()
    ]


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        line = restore(
            Path(args.file),
            Path(args.data_dir or f"{args.name}.etcd"),
            name=args.name,
            initial_cluster=args.initial_cluster,
            cluster_token=args.initial_cluster_token,
            peer_urls=args.initial_advertise_peer_urls,
            skip_hash_check=args.skip_hash_check,
        )
    except RestoreError as err:
        print(f"Error: {err}", file=sys.stderr, flush=True)
        return 1
    print(line, flush=True)
    return 0
