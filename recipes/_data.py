"""Plain data shared by both faces of the recipes (not generated: one class each)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

log = logging.getLogger("etcd3py.recipes")


@dataclass(frozen=True)
class Instance:
    """One registered instance of a service."""

    service: str
    id: str
    address: str
    metadata: Any = None

    @property
    def key(self) -> str:
        """The instance's key under the registry prefix: ``<service>/<id>``."""
        return f"{self.service}/{self.id}"


def encode(address: str, metadata: Any) -> bytes:
    """Go's json.Marshal of naming/endpoints' update: compact, fields in this order."""
    return json.dumps(
        {"Op": 0, "Addr": address, "Metadata": metadata}, separators=(",", ":")
    ).encode()


def decode(service: str, instance_id: str, value: bytes) -> Instance | None:
    try:
        data = json.loads(value)
        address = data["Addr"]
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring %s/%s: not a naming/endpoints entry: %r", service, instance_id, value)
        return None
    return Instance(service, instance_id, address, data.get("Metadata"))


@dataclass(frozen=True)
class ConfigChange:
    """What changed in one step, and the revision the mapping reflects after it."""

    revision: int
    changed: dict[str, bytes] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()
    reloaded: bool = False  # the whole prefix was read again (after a compaction)


class Isolation(str, Enum):
    """How much a transaction sees of, and conflicts with, concurrent writers."""

    SERIALIZABLE_SNAPSHOT = "serializable_snapshot"
    SERIALIZABLE = "serializable"
    REPEATABLE_READS = "repeatable_reads"
    READ_COMMITTED = "read_committed"


@dataclass(frozen=True, slots=True)
class CachedKV:
    """What a cache keeps of one key: its current version only, no history."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int


@dataclass(frozen=True)
class CacheChange:
    """One step of a cache, and the revision it reflects after it.

    ``changed`` holds the keys put (their new entries), ``deleted`` the keys removed
    (their entries as the cache last held them). ``relisted`` is None for a step of
    the watch; after the whole range was read again it says why ("compacted",
    "revision went backwards", ...), and the two maps hold the difference the new
    list made.
    """

    revision: int
    changed: dict[bytes, CachedKV] = field(default_factory=dict)
    deleted: dict[bytes, CachedKV] = field(default_factory=dict)
    relisted: str | None = None
