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

from ..wire import length_delimited, length_delimited_fields, read_varint, varint


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


@dataclass(frozen=True)
class MemberAttrSet:
    """A member publishes its name and client URLs once it serves (etcd's
    ClusterMemberAttrSetRequest: member_ID = 1, attributes = 2 {name = 1, client_urls = 2});
    every member applies it to its member list."""

    member_id: int
    name: str
    client_urls: tuple[str, ...]

    def SerializeToString(self) -> bytes:
        attributes = length_delimited(1, self.name.encode()) if self.name else b""
        for url in self.client_urls:
            attributes += length_delimited(2, url.encode())
        return b"\x08" + varint(self.member_id) + length_delimited(2, attributes)

    def ByteSize(self) -> int:
        return len(self.SerializeToString())

    @classmethod
    def FromString(cls, data: bytes) -> MemberAttrSet:
        if data[:1] != b"\x08":
            raise ValueError("a member attributes entry without a member id")
        member, pos = read_varint(data, 1)
        name, urls = "", []
        for number, body in length_delimited_fields(data[pos:], "ClusterMemberAttrSetRequest"):
            if number != 2:
                raise ValueError(f"unexpected field {number}")
            for inner, value in length_delimited_fields(body, "Attributes"):
                if inner == 1:
                    name = value.decode()
                elif inner == 2:
                    urls.append(value.decode())
        return cls(member, name, tuple(urls))


@dataclass(frozen=True)
class ClusterVersionSet:
    """The leader records the cluster's version once every member runs (etcd's
    ClusterVersionSetRequest: ver = 1)."""

    version: str

    def SerializeToString(self) -> bytes:
        return length_delimited(1, self.version.encode())

    def ByteSize(self) -> int:
        return len(self.SerializeToString())

    @classmethod
    def FromString(cls, data: bytes) -> ClusterVersionSet:
        fields = dict(length_delimited_fields(data, "ClusterVersionSetRequest"))
        return cls(fields.get(1, b"").decode())
