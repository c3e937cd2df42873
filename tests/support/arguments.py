"""The argument rule, as the tests see it: what each kind of argument accepts.

Every parameter of every public method is given a kind here (by its name, or by
``Class.method.name`` where one name means two things); ``accepts(kind, value)`` says,
independently of the SDK's own checks, which values the SDK must take. The property
tests feed anything else and expect a typed refusal naming the argument.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from etcd3py import AlarmType, AsyncClient, AsyncLease, AsyncWatch, Client, LeaderKey, Permission
from etcd3py._txn import Compare, Delete, Get, Put, Txn
from etcd3py.recipes import AsyncSession, Session

_INT64 = (1 << 63) - 1
FLAG = "flag"  # yes/no options: any value is taken for its truth, as Python does
SKIP = "skip"  # not an argument of the rule (forwarded options, internal plumbing)


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bytes_like(v: object) -> bool:
    return isinstance(v, (str, bytes, bytearray, memoryview))


def _key(v: object) -> bool:
    return _bytes_like(v) and len(v) > 0  # type: ignore[arg-type]


def _name(v: object) -> bool:
    return isinstance(v, str) and v != ""


def _endpoint_text(v: object) -> bool:
    if not isinstance(v, str) or v.count(":") != 1:
        return False
    host, port = v.split(":")
    return bool(host.strip()) and port.isdigit() and 1 <= int(port) <= 65535


ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "key": _key,
    "optional_key": lambda v: v is None or _bytes_like(v),
    "value": _bytes_like,
    "ttl": lambda v: _int(v) and 1 <= v <= _INT64,
    "call_timeout": lambda v: v is None or (_number(v) and v > 0),
    "wait_timeout": lambda v: v is None or (_number(v) and v >= 0),
    "revision": lambda v: _int(v) and 0 <= v <= _INT64,
    "lease": lambda v: v is None or isinstance(v, AsyncLease) or (_int(v) and 0 <= v <= _INT64),
    "named_lease": lambda v: isinstance(v, AsyncLease) or (_int(v) and 1 <= v <= _INT64),
    "lease_object": lambda v: isinstance(v, AsyncLease),
    "lease_number": lambda v: _int(v) and 0 <= v <= _INT64,
    "member_id": lambda v: _int(v) and 1 <= v < (1 << 64),
    "any_member_id": lambda v: _int(v) and 0 <= v < (1 << 64),
    "text": _name,
    "password": lambda v: isinstance(v, str),
    "optional_password": lambda v: v is None or isinstance(v, str),
    "optional_text": lambda v: v is None or isinstance(v, str),
    "endpoint": lambda v: v is None,  # any other value must be one of the client's
    "endpoints": lambda v: (
        _endpoint_text(v)
        or (isinstance(v, (list, tuple)) and len(v) > 0 and all(_endpoint_text(e) for e in v))
    ),
    "peer_urls": lambda v: (
        isinstance(v, str)
        or (isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(u, str) for u in v))
    ),
    "leader": lambda v: isinstance(v, LeaderKey),
    "alarm": lambda v: _int(v) and v in set(AlarmType),
    "perm": lambda v: _int(v) and v in set(Permission),
    "filters": lambda v: (
        isinstance(v, (list, tuple))
        and all(isinstance(f, str) and f.lower() in ("noput", "nodelete") for f in v)
    ),
    "sort_target": lambda v: (
        v is None
        or (isinstance(v, str) and v.lower() in ("key", "version", "create", "mod", "value"))
        or (_int(v) and 0 <= v <= 4)
    ),
    "sort_order": lambda v: (
        v is None
        or (isinstance(v, str) and v.lower() in ("none", "ascend", "descend"))
        or (_int(v) and 0 <= v <= 2)
    ),
    "comparisons": lambda v: (
        isinstance(v, (list, tuple)) and all(isinstance(c, Compare) for c in v)
    ),
    "operations": lambda v: (
        isinstance(v, (list, tuple)) and all(isinstance(o, (Put, Get, Delete, Txn)) for o in v)
    ),
    "fileobj": lambda v: callable(getattr(v, "write", None)),
    "callable": callable,
    "lb_policy": lambda v: isinstance(v, str) and v.lower() in ("pick_first", "round_robin"),
    "seconds": lambda v: v is None or (_number(v) and v > 0),
    "pem_file": lambda v: v is None or (isinstance(v, (str, Path)) and Path(v).is_file()),
    "watch_buffer": lambda v: _int(v) and 2 <= v <= (1 << 20),
    "count": lambda v: _int(v) and 1 <= v <= _INT64,
    "priority": lambda v: _int(v) and 0 <= v <= 0xFFFF,
    "isolation": lambda v: (
        isinstance(v, str)
        and v.lower()
        in ("serializable_snapshot", "serializable", "repeatable_reads", "read_committed")
    ),
    "service": lambda v: _name(v) and "/" not in v,
    "instance_id": lambda v: v is None or (_name(v) and "/" not in v),
    "metadata": lambda v: _jsonable(v),
    "recipe_name": _key,
    "watch_object": lambda v: isinstance(v, AsyncWatch),
    "exception": lambda v: v is None or isinstance(v, BaseException),
    "client": lambda v: isinstance(v, (AsyncClient, Client)),
    "client_or_session": lambda v: isinstance(v, (AsyncClient, Client, AsyncSession, Session)),
}


def _jsonable(v: object) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


KIND_BY_NAME: dict[str, str] = {
    "key": "key",
    "range_end": "optional_key",
    "value": "value",
    "ttl": "ttl",
    "timeout": "call_timeout",
    "attempt_timeout": "call_timeout",
    "revision": "revision",
    "start_revision": "revision",
    "limit": "revision",
    "min_mod_revision": "revision",
    "max_mod_revision": "revision",
    "min_create_revision": "revision",
    "max_create_revision": "revision",
    "lease": "lease",
    "lease_id": "lease",
    "member_id": "member_id",
    "name": "key",
    "user": "text",
    "role": "text",
    "password": "password",
    "endpoint": "endpoint",
    "endpoints": "endpoints",
    "peer_urls": "peer_urls",
    "leader": "leader",
    "alarm": "alarm",
    "perm": "perm",
    "filters": "filters",
    "sort_target": "sort_target",
    "sort_order": "sort_order",
    "compare": "comparisons",
    "success": "operations",
    "failure": "operations",
    "fileobj": "fileobj",
    "callback": "callable",
    "fn": "callable",
    "lb_policy": "lb_policy",
    "username": "optional_text",
    "keepalive_time": "seconds",
    "keepalive_timeout": "seconds",
    "auto_sync_interval": "seconds",
    "ca_cert": "pem_file",
    "cert_cert": "pem_file",
    "cert_key": "pem_file",
    "watch_buffer": "watch_buffer",
    "count": "count",
    "max_attempts": "count",
    "priority": "priority",
    "isolation": "isolation",
    "service": "service",
    "address": "text",
    "instance_id": "instance_id",
    "metadata": "metadata",
    # yes/no options
    "prefix": FLAG,
    "from_key": FLAG,
    "prev_kv": FLAG,
    "ignore_value": FLAG,
    "ignore_lease": FLAG,
    "serializable": FLAG,
    "keys_only": FLAG,
    "count_only": FLAG,
    "progress_notify": FLAG,
    "fragment": FLAG,
    "physical": FLAG,
    "keys": FLAG,
    "learner": FLAG,
    "require_leader": FLAG,
    "ordering": FLAG,
    "ack": FLAG,
    "keep_registered": FLAG,
    "options": SKIP,  # watch_once(**options): the options of watch(), tested there
    "watch": "watch_object",
    "error": "exception",
    "client": "client",
    "client_or_session": "client_or_session",
}

# where one parameter name means something else
OVERRIDES: dict[str, str] = {
    "Client.revoke.lease_id": "named_lease",
    "Client.time_to_live.lease_id": "named_lease",
    "Client.grant.lease_id": "lease_number",
    "Client.lease.lease_id": "lease_number",
    "Client.user_add.name": "text",
    "Client.user_get.name": "text",
    "Client.user_delete.name": "text",
    "Client.user_change_password.name": "text",
    "Client.role_add.name": "text",
    "Client.role_get.name": "text",
    "Client.role_delete.name": "text",
    "Client.keep_alive.lease": "lease_object",
    "Client.lock.lease": "named_lease",
    "Client.campaign.lease": "named_lease",
    "Client.disarm.member_id": "any_member_id",
    "Client.user_add.password": "optional_password",
    "Client.__init__.password": "optional_text",
    "Client.__init__.timeout": "seconds_required",
    "ConfigWatcher.__init__.prefix": "key",
    "Cache.__init__.page_size": "count",
    "Cache.__init__.probe_interval": "seconds_required",
    "Cache.changes.buffer": "count",
    "Cache.get.key": "value",
    "Cache.index.name": "text",
    "Cache.lookup.name": "text",
    "Client.namespace.prefix": "key",
    "Client.existing_lease.lease_id": "count",
    "Client.get_paged.page_size": "count",
    "Mutex.check_safe.seconds": "seconds_or_zero",
    "RWLock.check_safe.seconds": "seconds_or_zero",
    "Semaphore.check_safe.seconds": "seconds_or_zero",
    "Election.check_safe.seconds": "seconds_or_zero",
    "ServiceRegistry.__init__.prefix": "text",
    "Semaphore.__init__.limit": "count",
    "Semaphore.__init__.timeout": "wait_timeout",
    "RWMutex.read_lock.timeout": "wait_timeout",
    "RWMutex.write_lock.timeout": "wait_timeout",
    "STM.__init__.timeout": "wait_timeout",
    "STMTxn.put.lease": "lease",
    "Mutex.__init__.name": "recipe_name",
    "DoubleBarrier.__init__.count": "count",
}
ACCEPTS["seconds_required"] = lambda v: _number(v) and v > 0
ACCEPTS["seconds_or_zero"] = lambda v: _number(v) and v >= 0

# the waits: their timeout may be 0 ("just look")
WAITS = {
    "Watch.get",
    "Watch.events",
    "ElectionObserver.get",
    "Client.watch_once",
    "Lease.wait_lost",
    "Session.wait_lost",
    "Mutex.acquire",
    "RWLock.acquire",
    "Semaphore.acquire",
    "Election.campaign",
    "Observer.get",
    "ServiceWatch.get",
    "ConfigWatcher.wait_for",
    "Cache.wait_for",
    "CacheChanges.get",
    "Mirror.wait_for",
    "Queue.get",
    "Queue.join",
    "PriorityQueue.get",
    "PriorityQueue.join",
    "Barrier.wait",
    "DoubleBarrier.enter",
    "DoubleBarrier.leave",
}


def kind_of(owner: str, method: str, param: str) -> str:
    """The kind of a parameter; KeyError names a parameter nobody classified."""
    where = f"{owner}.{method}"
    if f"{where}.{param}" in OVERRIDES:
        return OVERRIDES[f"{where}.{param}"]
    if param == "timeout" and where in WAITS:
        return "wait_timeout"
    return KIND_BY_NAME[param]


def public_methods(cls: type) -> Iterator[tuple[str, inspect.Signature]]:
    """The public methods (and the constructor) of a public class, with signatures."""
    for name in ["__init__", *sorted(n for n in dir(cls) if not n.startswith("_"))]:
        member = inspect.getattr_static(cls, name, None)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if not inspect.isfunction(member) or not member.__module__.startswith("etcd3py"):
            continue  # properties, attributes, what Mapping or object bring
        yield name, inspect.signature(member)


# Anything a caller might pass by mistake: wrong types, out-of-range numbers, odd text.
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.sampled_from([0, -1, 1 << 64, (1 << 63), 65536, 1 << 20 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["", "5", "a/b", "nothing", "NOSPACE", "http://x"]),
    st.binary(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.lists(st.text(max_size=3), max_size=2),
    st.builds(object),
    st.just({"a": object()}),
)


def refused(kind: str) -> st.SearchStrategy[Any]:
    """Values the SDK must refuse for an argument of ``kind``."""
    accepts = ACCEPTS[kind]
    return ANYTHING.filter(lambda v: not accepts(v))
