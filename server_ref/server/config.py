"""The settings a member's server runs with (etcd's config.ServerConfig).

No defaults here: embed/config.py holds the one table of defaults and flag names,
and builds this from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    name: str
    peer_urls: tuple[str, ...]  # with the cluster token, they make the member id
    client_urls: tuple[str, ...]  # advertised; empty: the URLs the member binds
    cluster_token: str
    min_lease_ttl: int  # seconds
    max_txn_ops: int
    max_request_bytes: int
    quota_backend_bytes: int  # 0: etcd's default (2 GiB); negative: no quota
    progress_notify_interval: float  # seconds; 0: no progress notifications
    auth_token: str  # etcd's --auth-token: simple, or jwt with its options
    auth_token_ttl: float  # seconds a simple token lives unused
    bcrypt_cost: int
    # etcd's ClientCertAuthEnabled: a verified client certificate's CN is the user of
    # a call without a token
    client_cert_auth: bool
