"""Members and their ids (etcd's membership package).

Ids are computed the way etcd computes them (SHA-1 of the sorted peer URLs and the
cluster token; SHA-1 of the member ids), so they are stable across restarts and a
member started with etcd's peer URLs and token has that etcd's ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from etcd3py._proto import rpc_pb2


def member_id(peer_urls: Iterable[str], cluster_token: str) -> int:
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + cluster_token).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def cluster_id(member_ids: Iterable[int]) -> int:
    digest = hashlib.sha1(b"".join(i.to_bytes(8, "big") for i in sorted(member_ids))).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class MemberInfo:
    id: int
    name: str
    peer_urls: list[str]
    client_urls: list[str] = field(default_factory=list)
    is_learner: bool = False

    def to_pb(self) -> rpc_pb2.Member:
        return rpc_pb2.Member(
            ID=self.id,
            name=self.name,
            peerURLs=self.peer_urls,
            clientURLs=self.client_urls,
            isLearner=self.is_learner,
        )
