"""A cluster member's timing, from etcd's two flags (in milliseconds, as etcd takes them)."""

from __future__ import annotations

from dataclasses import dataclass

# etcd's defaults: --heartbeat-interval 100, --election-timeout 1000
HEARTBEAT_INTERVAL_MS = 100
ELECTION_TIMEOUT_MS = 1000


class TimingError(ValueError):
    """The two flags do not make a timing etcd would start with (its own messages)."""


@dataclass(frozen=True)
class Timing:
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    election_timeout_ms: int = ELECTION_TIMEOUT_MS

    def __post_init__(self) -> None:
        # etcd's config validation, with its texts
        if self.heartbeat_interval_ms <= 0:
            raise TimingError("--heartbeat-interval must be >0 (set to 0ms)")
        if 5 * self.heartbeat_interval_ms > self.election_timeout_ms:
            raise TimingError(
                f"--election-timeout[{self.election_timeout_ms}ms] should be at least as 5 "
                f"times as --heartbeat-interval[{self.heartbeat_interval_ms}ms]"
            )
        if self.election_timeout_ms > 50000:
            raise TimingError(
                f"--election-timeout[{self.election_timeout_ms}ms] is too long, and should "
                "be set less than 50 seconds"
            )

    @property
    def tick(self) -> float:
        """Seconds between two ticks of the Raft node: one heartbeat interval."""
        return self.heartbeat_interval_ms / 1000

    @property
    def election_ticks(self) -> int:
        return self.election_timeout_ms // self.heartbeat_interval_ms

    @property
    def election_timeout(self) -> float:
        return self.election_timeout_ms / 1000

    @property
    def request_timeout(self) -> float:
        """How long a proposal may wait to be applied (etcd's ReqTimeout: 5 s plus two
        election timeouts) before "etcdserver: request timed out"."""
        return 5.0 + 2 * self.election_timeout
