"""etcd3py.recipes: coordination built on the public client API.

Sync names first; each has an ``Async`` twin for AsyncClient (the async code is the
source, the sync one is generated from it).
"""

from etcd3py._public import publish
from etcd3py.errors import DoubleBarrierFullError, STMConflictError

from ._async._barrier import AsyncBarrier, AsyncDoubleBarrier
from ._async._cache import AsyncCache, AsyncCacheChanges, CacheSnapshot
from ._async._config import AsyncConfigWatcher
from ._async._election import AsyncElection, AsyncObserver
from ._async._mirror import AsyncMirror
from ._async._mutex import AsyncMutex
from ._async._owned import AsyncFenced
from ._async._queue import AsyncJob, AsyncPriorityQueue, AsyncQueue
from ._async._registry import AsyncRegistration, AsyncServiceRegistry, AsyncServiceWatch
from ._async._rwmutex import AsyncRWLock, AsyncRWMutex
from ._async._semaphore import AsyncSemaphore
from ._async._session import AsyncSession
from ._async._stm import AsyncSTM, AsyncSTMFunction, AsyncSTMTxn
from ._data import CacheChange, CachedKV, ConfigChange, Instance, Isolation
from ._sync._barrier import Barrier, DoubleBarrier
from ._sync._cache import Cache, CacheChanges
from ._sync._config import ConfigWatcher
from ._sync._election import Election, Observer
from ._sync._mirror import Mirror
from ._sync._mutex import Mutex
from ._sync._owned import Fenced
from ._sync._queue import Job, PriorityQueue, Queue
from ._sync._registry import Registration, ServiceRegistry, ServiceWatch
from ._sync._rwmutex import RWLock, RWMutex
from ._sync._semaphore import Semaphore
from ._sync._session import Session
from ._sync._stm import STM, STMFunction, STMTxn

__all__ = [
    "STM",
    "AsyncBarrier",
    "AsyncCache",
    "AsyncCacheChanges",
    "AsyncConfigWatcher",
    "AsyncDoubleBarrier",
    "AsyncElection",
    "AsyncFenced",
    "AsyncJob",
    "AsyncMirror",
    "AsyncMutex",
    "AsyncObserver",
    "AsyncPriorityQueue",
    "AsyncQueue",
    "AsyncRWLock",
    "AsyncRWMutex",
    "AsyncRegistration",
    "AsyncSTM",
    "AsyncSTMFunction",
    "AsyncSTMTxn",
    "AsyncSemaphore",
    "AsyncServiceRegistry",
    "AsyncServiceWatch",
    "AsyncSession",
    "Barrier",
    "Cache",
    "CacheChange",
    "CacheChanges",
    "CacheSnapshot",
    "CachedKV",
    "ConfigChange",
    "ConfigWatcher",
    "DoubleBarrier",
    "DoubleBarrierFullError",
    "Election",
    "Fenced",
    "Instance",
    "Isolation",
    "Job",
    "Mirror",
    "Mutex",
    "Observer",
    "PriorityQueue",
    "Queue",
    "RWLock",
    "RWMutex",
    "Registration",
    "STMConflictError",
    "STMFunction",
    "STMTxn",
    "Semaphore",
    "ServiceRegistry",
    "ServiceWatch",
    "Session",
]

# (the two errors stay here for compatibility; their home is etcd3py.errors)
publish(globals(), __all__)
