"""Making a member's server from its settings: in memory, or on a data directory."""

from __future__ import annotations

from ..server.durable import DurableLog, open_server
from ..server.server import EtcdServer
from .config import Config


def make_server(config: Config) -> tuple[EtcdServer, DurableLog | None]:
    """The server, and its log on disk when ``config`` names a data directory (an
    existing one is replayed: the member restarts where it was)."""
    durability = config.durability()
    if durability is None:
        return EtcdServer(config.server_config()), None
    return open_server(config.server_config(), durability)
