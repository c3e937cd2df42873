"""Token providers (etcd's ``--auth-token``): simple tokens, its default, and JWT.

``providers.provider(spec, ttl)`` makes the one a member was configured with. Both turn an
authenticated user into a token when the Authenticate entry is applied, and a token
back into an ``AuthInfo`` for each request.

Simple tokens (``simple``):

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
from typing import Protocol

from .caller import AuthInfo

LETTERS = string.ascii_lowercase + string.ascii_uppercase
PREFIX_LENGTH = 16
DEFAULT_TTL = 300.0  # seconds, etcd's --auth-token-ttl default
SWEEP_INTERVAL = 1.0  # etcd's simpleTokenTTLResolution


class TokenProvider(Protocol):
    def enable(self) -> None: ...
    def disable(self) -> None: ...
    def new_prefix(self) -> str:
        """What the member draws before proposing an Authenticate entry."""

    def assign(self, user: str, prefix: str, index: int, revision: int) -> str:
        """The token of an applied Authenticate entry (at raft ``index``; the auth
        store at ``revision``)."""

    def info(self, token: str, revision: int) -> AuthInfo | None:
        """Who the token names (None: not a valid token); ``revision`` is the store's."""

    def invalidate_user(self, user: str) -> None: ...
    def sweep(self) -> None:
        """Called once a second."""


class InvalidAuthOptions(ValueError):
    """etcd's ErrInvalidAuthOpts and friends: the member does not start."""


def parse_options(spec: str) -> tuple[str, dict[str, str]]:
    """``type,key=value,...`` (etcd's decomposeOpts): the type and its options."""
    kind, *pairs = spec.split(",")
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or "=" in value or key in options:
            raise InvalidAuthOptions(f"invalid auth token options {spec!r}")
        options[key] = value
    return kind, options


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

    def new_prefix(self) -> str:
        return "".join(secrets.choice(LETTERS) for _ in range(PREFIX_LENGTH))

    def disable(self) -> None:
        """Forget every token, as etcd does when auth is disabled."""
        self.enabled = False
        self._users.clear()
        self._deadlines.clear()

    def assign(self, user: str, prefix: str, index: int, revision: int = 0) -> str:
        token = f"{prefix}.{index}"
        if self.enabled:
            self._users[token] = user
            self._deadlines[token] = self._clock() + self.ttl
        return token

    def info(self, token: str, revision: int) -> AuthInfo | None:
        """The token's user at the store's revision (a simple token carries none)."""
        user = self.user_of(token) if token_index(token) is not None else None
        return None if user is None else AuthInfo(user, revision)

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
