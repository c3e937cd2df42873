"""What the recipe workloads saw: the records the recipe checkers read.

Times are seconds on the run's shared Clock; revisions are etcd's. An outcome is
"ok" (etcd answered yes), "refused" (etcd answered no: a compare failed), "failed"
(an error proving nothing was applied) or "unknown" (an error that may hide a write).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Acquisition:
    """One holding of the Mutex: its lock key's create revision is the fencing token."""

    holder: str
    key: bytes
    token: int
    acquired: float
    released: float
    end: str  # "released" | "lost" (release said the key had gone) | "unknown"


@dataclass(frozen=True)
class FencedWrite:
    """A txn writing the shared key only if ``CreateRevision(lock key) == token``."""

    holder: str
    token: int
    call: float
    ret: float | None
    outcome: str
    revision: int | None = None


@dataclass(frozen=True)
class LossNotice:
    """The client told ``holder`` that the session behind ``token`` was lost."""

    holder: str
    token: int
    at: float
    reason: str


@dataclass(frozen=True)
class Leadership:
    """A won campaign: ``term`` is the leader key's create revision."""

    candidate: str
    key: bytes
    term: int
    value: bytes
    won: float
    ended: float
    end: str  # "resigned" | "lost" | "kept" (still leading when the run ended) | "unknown"


@dataclass(frozen=True)
class Candidacy:
    """A campaign: its key (the session's, known before the campaign) and value.
    ``outcome``: "won", "timeout" (withdrawn), "lost" (won, its session gone at once)
    or "error"; all but "won" may have led unseen (a timeout racing the predecessor's
    exit leads until the withdrawal)."""

    candidate: str
    key: bytes
    value: bytes
    outcome: str


@dataclass(frozen=True)
class Proclamation:
    candidate: str
    key: bytes
    term: int
    value: bytes
    call: float
    ret: float | None
    outcome: str
    revision: int | None = None


@dataclass(frozen=True)
class Observation:
    """What an observer reported: the leader key-value at a change."""

    observer: str
    key: bytes
    term: int
    mod_revision: int
    value: bytes
    at: float


@dataclass(frozen=True)
class FinalLeader:
    """The election's leader once the candidates stopped, as a read saw it."""

    key: bytes
    term: int
    mod_revision: int
    value: bytes


@dataclass(frozen=True)
class Enqueue:
    queue: str
    producer: str
    item: bytes
    call: float
    ret: float | None
    outcome: str


@dataclass(frozen=True)
class Delivery:
    queue: str
    consumer: str
    item: bytes
    at: float


@dataclass(frozen=True)
class Ack:
    queue: str
    consumer: str
    item: bytes
    at: float
    outcome: str  # "ok" | "lost" (the claim had gone) | "unknown"


@dataclass(frozen=True)
class LeaseRecord:
    """A session kept alive by the client; ``end_ttl`` is TimeToLive's answer at the
    end (-1: etcd does not know it; None: not asked, or the ask failed)."""

    keeper: str
    lease_id: int
    ttl: int
    granted: float
    lost_at: float | None = None
    lost_reason: str | None = None
    end_ttl: int | None = None
    checked_at: float | None = None


@dataclass
class RecipeRecords:
    """Everything the recipe workloads of one run recorded."""

    acquisitions: list[Acquisition] = field(default_factory=list)
    fenced_writes: list[FencedWrite] = field(default_factory=list)
    loss_notices: list[LossNotice] = field(default_factory=list)
    candidacies: list[Candidacy] = field(default_factory=list)
    leaderships: list[Leadership] = field(default_factory=list)
    proclamations: list[Proclamation] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    final_leader: FinalLeader | None = None
    converged: bool = False  # every observer reported the final leader before the end
    enqueues: list[Enqueue] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    drained: dict[str, bool] = field(default_factory=dict)  # queue -> emptied at the end
    ack_mode: dict[str, bool] = field(default_factory=dict)  # queue -> ack mode
    leases: list[LeaseRecord] = field(default_factory=list)
