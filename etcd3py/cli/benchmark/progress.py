"""The progress bar on stderr while a benchmark runs (etcd's tool uses cheggaaa/pb).

tqdm: small, no dependencies of its own, redraws at most every 0.1 s whatever the
request rate (so it costs little per request), and goes to stderr so stdout carries
the report alone.
"""

from __future__ import annotations

from types import TracebackType

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """A bar of ``total`` steps: ``with Progress(n) as bar: bar.step()``."""

    def __init__(self, total: int) -> None:
        self._bar = tqdm(total=total, unit="req", file=None, dynamic_ncols=True, leave=True)

    def step(self, n: int = 1) -> None:
        self._bar.update(n)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.close()
