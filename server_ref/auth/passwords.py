"""Passwords as etcd keeps them: bcrypt hashes ($2a$ from etcd's Go bcrypt, $2b$ here;
both verify either way), with etcd's cost bounds."""

from __future__ import annotations

import bcrypt

MIN_COST, MAX_COST, DEFAULT_COST = 4, 31, 10  # Go's bcrypt.MinCost, MaxCost, DefaultCost
# etcd 3.5.1's Go bcrypt reads the first 72 bytes of a password and ignores the rest;
# the Python package refuses longer ones, so they are cut here the same way.
_MAX_BYTES = 72


def _secret(password: str) -> bytes:
    return password.encode()[:_MAX_BYTES]


def usable_cost(cost: int) -> int:
    """etcd falls back to the default cost when the configured one is out of bounds."""
    return cost if MIN_COST <= cost <= MAX_COST else DEFAULT_COST


def hash_password(password: str, cost: int) -> bytes:
    return bcrypt.hashpw(_secret(password), bcrypt.gensalt(usable_cost(cost)))


def password_matches(hashed: bytes, password: str) -> bool:
    try:
        return bcrypt.checkpw(_secret(password), hashed)
    except ValueError:  # not a bcrypt hash (an empty one, say): nothing matches it
        return False
