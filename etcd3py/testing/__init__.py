"""etcd3py.testing: test code that uses etcd, against a real server.

The pytest plugin (``etcd3py.testing.plugin``, loaded by the ``pytest11`` entry point)
gives the ``etcd_*`` fixtures; this package gives the helpers such tests need: waits
with deadlines, an event recorder, and a check of who holds a lock. Sync names first;
the async twins (for AsyncClient) carry ``Async`` / ``async_`` in their names.
"""

from etcd3py._public import publish

from ._async._events import AsyncEventRecorder
from ._async._locks import assert_lock_held as async_assert_lock_held
from ._async._waits import wait_for_key as async_wait_for_key
from ._async._waits import wait_until as async_wait_until
from ._errors import WaitTimeout
from ._sync._events import EventRecorder
from ._sync._locks import assert_lock_held
from ._sync._waits import wait_for_key, wait_until

__all__ = [
    "AsyncEventRecorder",
    "EventRecorder",
    "WaitTimeout",
    "assert_lock_held",
    "async_assert_lock_held",
    "async_wait_for_key",
    "async_wait_until",
    "wait_for_key",
    "wait_until",
]

publish(globals(), __all__)
