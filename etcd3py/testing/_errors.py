"""The failure the testing helpers raise: an AssertionError, so pytest reports it as a
failed expectation (with what was seen) rather than as an error in the test's code."""

from __future__ import annotations


class WaitTimeout(AssertionError):
    """A wait of the testing kit ran out before its condition held."""
