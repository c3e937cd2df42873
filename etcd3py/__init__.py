"""etcd3py: an etcd v3 client for Python, with a sync and an async face.

from etcd3py import Client
with Client("127.0.0.1:2379") as client:
    client.put("greeting", "hello")
    client.get("greeting").value      # b"hello"

Every exception etcd3py raises is importable from here (and from ``etcd3py.errors``).
"""

import os as _os

# gRPC's C core writes its own log lines (such as "chttp2_transport.cc ... Got goaway")
# straight to stderr. Quiet unless the user asks for them: GRPC_VERBOSITY set in the
# environment wins. It must be set before grpc is first imported to take effect.
_os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from . import errors
from ._async._client import AsyncClient
from ._async._lease import AsyncLease
from ._async._observe import AsyncElectionObserver
from ._async._watch import AsyncWatch
from ._once import OnceResult
from ._public import publish
from ._sync._client import Client
from ._sync._lease import Lease
from ._sync._observe import ElectionObserver
from ._sync._watch import Watch
from ._txn import (
    Compare,
    CreateRevision,
    Delete,
    Get,
    LeaseId,
    ModRevision,
    Put,
    Txn,
    Value,
    Version,
)
from ._types import (
    Alarm,
    AlarmType,
    DeleteResponse,
    Event,
    EventType,
    GetResponse,
    Header,
    KeyPermission,
    KeyValue,
    LeaderKey,
    LeaseInfo,
    LockResponse,
    Member,
    Permission,
    PutResponse,
    Status,
    TxnResponse,
    WatchResponse,
)
from .errors import *  # noqa: F403 - every exception, as errors.__all__ lists them

__version__ = "0.1.0"

__all__ = [
    "Alarm",
    "AlarmType",
    "AsyncClient",
    "AsyncElectionObserver",
    "AsyncLease",
    "AsyncWatch",
    "Client",
    "Compare",
    "CreateRevision",
    "Delete",
    "DeleteResponse",
    "ElectionObserver",
    "Event",
    "EventType",
    "Get",
    "GetResponse",
    "Header",
    "KeyPermission",
    "KeyValue",
    "LeaderKey",
    "Lease",
    "LeaseId",
    "LeaseInfo",
    "LockResponse",
    "Member",
    "ModRevision",
    "OnceResult",
    "Permission",
    "Put",
    "PutResponse",
    "Status",
    "Txn",
    "TxnResponse",
    "Value",
    "Version",
    "Watch",
    "WatchResponse",
    "__version__",
    "errors",
]
__all__ += errors.__all__

publish(globals(), __all__)
