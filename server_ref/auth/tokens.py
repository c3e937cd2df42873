"""Simple tokens (etcd's ``--auth-token simple``, its default).

A token is ``<16 random letters>.<raft index>``: the letters are drawn by the member
before it proposes the Authenticate entry, the index is that entry's, so replaying
the log hands out the same tokens again (etcd 3.5.1 does so too). A token unused for
its TTL is forgotten by the next sweep, which runs once a second as etcd's does.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable

LETTERS = string.ascii_lowercase + string.ascii_uppercase
PREFIX_LENGTH = 16
DEFAULT_TTL = 300.0  # seconds, etcd's --auth-token-ttl default
SWEEP_INTERVAL = 1.0  # etcd's simpleTokenTTLResolution


def new_prefix() -> str:
    return "".join(secrets.choice(LETTERS) for _ in range(PREFIX_LENGTH))


def token_index(token: str) -> int | None:
    """The raft index a well-formed simple token names, else None."""
    parts = token.split(".")
    if len(parts) != 2 or not parts[1].isdigit() or not parts[1].isascii():
        return None
    return int(parts[1])


class SimpleTokens:
    """Live tokens and the user each names; they exist only while auth is enabled."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl if ttl > 0 else DEFAULT_TTL
        self._clock = clock
        self._users: dict[str, str] = {}  # token -> user name
        self._deadlines: dict[str, float] = {}  # token -> when it is forgotten
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        """Forget every token, as etcd does when auth is disabled."""
        self.enabled = False
        self._users.clear()
        self._deadlines.clear()

    def assign(self, user: str, prefix: str, index: int) -> str:
        token = f"{prefix}.{index}"
        if self.enabled:
            self._users[token] = user
            self._deadlines[token] = self._clock() + self.ttl
        return token

    def user_of(self, token: str) -> str | None:
        """The token's user, renewing the token; None for an unknown token."""
        user = self._users.get(token)
        if user is not None:
            self._deadlines[token] = self._clock() + self.ttl
        return user

    def invalidate_user(self, user: str) -> None:
        for token in [t for t, u in self._users.items() if u == user]:
            del self._users[token]
            del self._deadlines[token]

    def sweep(self) -> None:
        """Forget the tokens whose TTL has run out (called once a second)."""
        now = self._clock()
        for token in [t for t, d in self._deadlines.items() if now > d]:
            del self._users[token]
            del self._deadlines[token]
