"""A 3-member cluster whose members can be cut off from their peers, so that one lags
behind while still answering serializable reads: server_ref's EmbeddedCluster
(partition) or real etcd 3.5.1 processes whose peer traffic runs through proxies
(tests/support/peer_proxy.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.clusters import START_TIMEOUT, EtcdClusterBackend, status
from tests.support.peer_proxy import PeerLinks, ProxyHub


class LaggingCluster:
    """Three members; ``isolate(i)`` cuts member i off from the others, ``heal()`` undoes it."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self._hub: ProxyHub | None = None
        self._ref: Any = None
        self._etcd: EtcdClusterBackend | None = None
        self._links: PeerLinks | None = None
        if kind == "ref":
            from etcd3py.server_ref import EmbeddedCluster  # type: ignore[attr-defined]

            self._ref = EmbeddedCluster(members=3).start()
            self._ref.wait_leader(START_TIMEOUT)
        else:
            self._hub = hub = ProxyHub()
            self._links = links = PeerLinks(hub)
            self._etcd = EtcdClusterBackend(
                root, peer_proxy=lambda port: links.add(("127.0.0.1", port)).url
            ).start()
            links.learn({i: status(e).header.member_id for i, e in enumerate(self.endpoints)})

    @property
    def endpoints(self) -> list[str]:
        if self._etcd is not None:
            return self._etcd.endpoints
        return list(self._ref.endpoints)

    def leader(self) -> int:
        """The index of the leader (once the members agree on one)."""
        if self._etcd is not None:
            return self._etcd.index_of(self._etcd.wait_leader())
        leader = self._ref.wait_leader(START_TIMEOUT)
        return next(i for i, m in enumerate(self._ref.members) if m.id == leader.id)

    def isolate(self, i: int) -> None:
        if self._links is not None:
            self._links.isolate(i)
        else:
            self._ref.partition([i], [j for j in range(3) if j != i])

    def heal(self) -> None:
        if self._links is not None:
            self._links.heal()
        else:
            self._ref.heal()
        self.leader()

    def stop(self) -> None:
        if self._etcd is not None:
            self._etcd.stop()
        if self._hub is not None:
            self._hub.close()
        if self._ref is not None:
            self._ref.stop()


def lagging_cluster(kind: str, root: Path) -> Iterator[LaggingCluster]:
    cluster = LaggingCluster(kind, root)
    try:
        yield cluster
    finally:
        cluster.stop()
