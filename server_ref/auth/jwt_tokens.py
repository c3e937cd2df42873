"""JWT tokens (etcd's ``--auth-token jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...``).

A token is a JWT signed by the member, with the claims ``username``, ``revision`` (the
auth revision when it was issued) and ``exp`` (issued + ttl, etcd's default 5 minutes).
It names its own auth revision: once the auth store changes, requests that check
permissions with it fail with "auth: revision in header is old", as in etcd. Nothing
is kept per token, so enabling, disabling and password changes leave tokens alone.
With a public key only, the member verifies tokens and cannot issue any.

Needs PyJWT (the optional extra ``etcd3py[jwt]``) and cryptography for RSA and EC keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from grpc import StatusCode

from etcd3py._etcd_errors import ErrorSpec

from ..durations import parse_duration
from ..errors import ServerError
from .caller import AuthInfo
from .tokens import InvalidAuthOptions

DEFAULT_TTL = 300.0  # seconds: etcd's 5m
_ASYMMETRIC = {f"{family}{bits}" for family in ("RS", "PS", "ES") for bits in (256, 384, 512)}
_HMAC = {"HS256", "HS384", "HS512"}
VERIFY_ONLY = ErrorSpec(StatusCode.UNKNOWN, "auth: token signing attempted with verify-only key")


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise InvalidAuthOptions(f"auth: cannot read the key file {path}: {err}") from None


@dataclass(frozen=True)
class JwtTokens:
    method: str
    signing_key: Any  # None when only verifying
    verifying_key: Any
    ttl: float

    @classmethod
    def from_options(cls, options: dict[str, str]) -> JwtTokens:
        method = options.get("sign-method", "")
        ttl = parse_duration(options["ttl"]) if options.get("ttl") else DEFAULT_TTL
        private, public = _read(options.get("priv-key")), _read(options.get("pub-key"))
        if method in _HMAC:
            if not private:
                raise InvalidAuthOptions("auth: missing key data")
            return cls(method, private, private, ttl)
        if method not in _ASYMMETRIC:
            raise InvalidAuthOptions("auth: invalid auth signature method")
        try:
            secret = serialization.load_pem_private_key(private, None) if private else None
            shown = serialization.load_pem_public_key(public) if public else None
        except ValueError as err:
            raise InvalidAuthOptions(f"auth: bad key data: {err}") from None
        if secret is None:
            if shown is None:
                raise InvalidAuthOptions("auth: missing key data")
            return cls(method, None, shown, ttl)
        return cls(method, secret, secret.public_key(), ttl)

    def enable(self) -> None:
        pass

    def disable(self) -> None:
        pass

    def new_prefix(self) -> str:
        return ""  # a JWT needs nothing drawn before its entry is proposed

    def assign(self, user: str, prefix: str, index: int, revision: int) -> str:
        if self.signing_key is None:
            raise ServerError(VERIFY_ONLY)
        # the claims in the order Go's JSON writes a map: by key
        claims = {"exp": int(time.time() + self.ttl), "revision": revision, "username": user}
        return jwt.encode(claims, self.signing_key, algorithm=self.method)

    def info(self, token: str, revision: int) -> AuthInfo | None:
        try:
            claims = jwt.decode(token, self.verifying_key, algorithms=[self.method])
        except jwt.PyJWTError:
            return None
        user, issued_at = claims.get("username"), claims.get("revision")
        if not isinstance(user, str) or not isinstance(issued_at, (int, float)):
            return None
        return AuthInfo(user, int(issued_at))

    def invalidate_user(self, user: str) -> None:
        pass

    def sweep(self) -> None:
        pass
