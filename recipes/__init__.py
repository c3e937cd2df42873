"""etcd3py.recipes: coordination built on the public client API.

Sync names first; each has an ``Async`` twin for AsyncClient (the async code is the
source, the sync one is generated from it).
"""

from ._async._config import AsyncConfigWatcher
from ._async._election import AsyncElection, AsyncObserver
from ._async._mutex import AsyncMutex
from ._async._registry import AsyncRegistration, AsyncServiceRegistry, AsyncServiceWatch
from ._async._session import AsyncSession
from ._data import ConfigChange, Instance
from ._sync._config import ConfigWatcher
from ._sync._election import Election, Observer
from ._sync._mutex import Mutex
from ._sync._registry import Registration, ServiceRegistry, ServiceWatch
from ._sync._session import Session

__all__ = [
    "AsyncConfigWatcher",
    "AsyncElection",
    "AsyncMutex",
    "AsyncObserver",
    "AsyncRegistration",
    "AsyncServiceRegistry",
    "AsyncServiceWatch",
    "AsyncSession",
    "ConfigChange",
    "ConfigWatcher",
    "Election",
    "Instance",
    "Mutex",
    "Observer",
    "Registration",
    "ServiceRegistry",
    "ServiceWatch",
    "Session",
]
