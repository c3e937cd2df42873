"""etcd3py.server_ref: a reference etcd v3 server (the gRPC API with etcd's semantics).

    from etcd3py.server_ref import EmbeddedServer
    with EmbeddedServer() as server:
        ...  # connect any etcd v3 client to server.endpoint

or, as a process: ``python -m etcd3py.server_ref --listen-client-urls http://127.0.0.1:2379``.
"""

from .embed.cluster import EmbeddedCluster
from .embed.embedded import EmbeddedServer

__all__ = ["EmbeddedCluster", "EmbeddedServer"]
