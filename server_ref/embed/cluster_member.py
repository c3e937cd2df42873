"""Running one cluster member: its Raft driver started on what it persisted (or new),
then its gRPC server on its client URLs, then its attributes published. The one way,
for EmbeddedCluster's members and for the process (``--initial-cluster``)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cluster.bootstrap import ClusterSettings, open_member, parse_initial_cluster
from ..cluster.disk import DiskRaftStorage
from ..cluster.member import RaftMember
from ..cluster.storage import MemoryRaftStorage, RaftStorage
from ..cluster.timing import Timing
from ..cluster.transport import Transport
from .config import Config
from .member import Member

NewStorage = Callable[[dict[str, Any]], RaftStorage]


@dataclass
class RunningMember:
    raft: RaftMember
    grpc: Member

    async def stop(self, grace: float | None = None) -> None:
        await self.grpc.stop(grace)
        await self.raft.stop()
        await self.raft.storage.close()


def cluster_settings(config: Config) -> ClusterSettings:
    """The cluster flags of ``config``, parsed (``--initial-cluster`` and the rest)."""
    assert config.initial_cluster is not None
    return ClusterSettings(
        parse_initial_cluster(config.initial_cluster),
        config.initial_cluster_state,
        Timing(config.heartbeat_interval, config.election_timeout),
        config.snapshot_count,
    )


def disk_storage(
    config: Config,
) -> tuple[RaftStorage | None, Callable[[dict[str, Any]], RaftStorage]]:
    """What the member persisted on its data directory (None: nothing yet), and how to
    make its storage when new (in memory without a data directory)."""
    fsync = not config.unsafe_no_fsync
    if config.data_dir is None:
        return None, MemoryRaftStorage
    folder = Path(config.data_dir)
    persisted = DiskRaftStorage.open(folder, fsync) if DiskRaftStorage.exists(folder) else None
    return persisted, lambda metadata: DiskRaftStorage.create(folder, metadata, fsync)


async def start_member(
    config: Config,
    settings: ClusterSettings,
    *,
    persisted: RaftStorage | None,
    new_storage: NewStorage,
    make_transport: Callable[[RaftMember], Transport],
    fetch_members: Callable[[Sequence[str], str, bytes, float], Awaitable[bytes]],
    before_serving: Callable[[RaftMember], None] = lambda raft: None,
    rng: random.Random | None = None,
    on_removed: Callable[[], None] | None = None,
) -> RunningMember:
    started = await open_member(
        config.server_config(),
        settings,
        persisted=persisted,
        new_storage=new_storage,
        make_transport=make_transport,
        fetch_members=fetch_members,
        rng=rng,
        on_removed=on_removed,
    )
    raft = started.member
    before_serving(raft)
    await raft.start()
    grpc_member = Member(
        raft.server,
        config.listen_client_urls,
        config.client_tls(),
        config.listen_client_http_urls,
        config.listen_metrics_urls,
    )
    try:
        await grpc_member.start()
    except BaseException:
        await raft.stop()
        await raft.storage.close()
        raise
    raft.publish()
    return RunningMember(raft, grpc_member)
