"""The token provider ``--auth-token`` names: simple tokens, or JWTs."""

from __future__ import annotations

from .tokens import InvalidAuthOptions, SimpleTokens, TokenProvider, parse_options


def provider(spec: str, ttl: float) -> TokenProvider:
    """The token provider ``--auth-token`` names (``ttl``: ``--auth-token-ttl``)."""
    kind, options = parse_options(spec)
    if kind == "simple":
        return SimpleTokens(ttl)
    if kind == "jwt":
        try:
            from .jwt_tokens import JwtTokens  # PyJWT: the optional extra "jwt"
        except ImportError as err:
            raise InvalidAuthOptions(
                f"--auth-token jwt needs PyJWT and cryptography (etcd3py[jwt]): {err}"
            ) from None
        return JwtTokens.from_options(options)
    raise InvalidAuthOptions(f"unknown auth token type {kind!r} (simple or jwt)")
