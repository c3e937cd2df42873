"""The answer every checker gives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """ok, or not ok with a readable account of the smallest failing part found."""

    ok: bool
    explanation: str = ""

    def __bool__(self) -> bool:
        return self.ok


OK = Verdict(True)
