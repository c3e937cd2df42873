"""A key of ours under a session's lease: what every lock-like recipe holds.

Mutex, RWMutex and Semaphore all put a key under a session's lease and hold it
from acquire to release; this is the part they share on top of ``_Owned`` (the
watch that tells a loss at once, ``is_owner()``, ``guard()``, ``safe_until``):
``held``, ``key``, the fencing ``revision``, and a release that says when the hold
was lost.
"""

from __future__ import annotations

import contextlib
from types import TracebackType

from etcd3py import CreateRevision, Delete, LeaseLostError, LockNotHeldError

from ._owned import _Owned


class _Hold(_Owned):
    """A key of ours under a session's lease, held from acquire to release.

    Given a client, each acquisition gets a session of ``ttl`` seconds of its own
    (revoked at release); given a session, the key hangs on it.
    """

    @property
    def held(self) -> bool:
        """True from a won acquisition to its release, until the hold is lost: its key
        deleted (seen at once, by a watch on it) or its session lost."""
        return self._owning()

    @property
    def key(self) -> bytes:
        """The key that holds it (while held)."""
        self._check_key()
        assert self._key is not None
        return self._key

    @property
    def revision(self) -> int:
        """The key's create revision: a fencing token, increasing per holder."""
        self._check_key()
        return self._revision

    async def _confirm(self) -> None:
        """After a wait: is my key still there? (Its session may have gone meanwhile.)"""
        session = self._sessions.current
        assert self._key is not None and session is not None
        mine = await self._client.get(self._key)
        if not mine.kvs or mine.kvs[0].create_revision != self._revision:
            raise LeaseLostError(session.lease_id, "the session's key vanished")

    async def release(self) -> None:
        """Give it up (its key goes); nothing to do when not held.

        Raises LockNotHeldError when the key had already gone (deleted, or its
        session lost, while held): whatever ran under it may have overlapped with another
        holder, and the caller should know.
        """
        self._disown(deleting=True)
        key, revision = self._key, self._revision
        self._key, self._revision = None, 0
        session = self._sessions.current
        gone = False
        try:
            if key is not None:
                deleted = await self._client.txn(
                    compare=[CreateRevision(key) == revision], success=[Delete(key)]
                )
                gone = not deleted.succeeded
        finally:
            await self._sessions.end()
        if gone:
            reason = self._lost_reason or (session.lost_reason if session is not None else None)
            raise LockNotHeldError(
                f"the {self._what} was lost while held ({reason or 'its key vanished'})"
            )

    async def _withdraw(self) -> None:
        """Take my key back after a failed or abandoned acquisition."""
        with contextlib.suppress(LockNotHeldError):
            await self.release()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.release()
        else:
            await self._withdraw()  # the body's error matters more than a lost hold
