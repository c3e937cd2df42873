"""etcd3py.recipes: coordination built on the public client API.

Sync names first; each has an ``Async`` twin for AsyncClient (the async code is the
source, the sync one is generated from it).
"""

from ._async._election import AsyncElection, AsyncObserver
from ._async._mutex import AsyncMutex
from ._async._session import AsyncSession
from ._sync._election import Election, Observer
from ._sync._mutex import Mutex
from ._sync._session import Session

__all__ = [
    "AsyncElection",
    "AsyncMutex",
    "AsyncObserver",
    "AsyncSession",
    "Election",
    "Mutex",
    "Observer",
    "Session",
]
