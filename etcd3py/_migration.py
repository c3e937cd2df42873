"""Guidance for the habits of python-etcd3 and aetcd users.

Their method names that etcd3py does not have, each with what to call instead; the
client's ``__getattr__`` puts it in the AttributeError, so a migrating user is
pointed to the right call instead of left with "no attribute" (docs/migration.md
has the whole mapping).
"""

from __future__ import annotations

OTHER_CLIENTS: dict[str, str] = {
    "get_prefix": "get(prefix, prefix=True)",
    "get_range": "get(start, range_end=end)",
    "get_all": 'get(b"\\0", from_key=True)',
    "delete_prefix": "delete(prefix, prefix=True)",
    "delete_range": "delete(start, range_end=end)",
    "put_if_not_exists": "txn(compare=[CreateRevision(key) == 0], success=[Put(key, value)])",
    "replace": "txn(compare=[Value(key) == old], success=[Put(key, new)])",
    "transaction": "txn(compare=[...], success=[...], failure=[...])",
    "transactions": "etcd3py.Value, Version, CreateRevision, ModRevision, Put, Get, Delete, Txn",
    "watch_prefix": "watch(prefix, prefix=True)",
    "watch_prefix_once": "watch_once(prefix, prefix=True, timeout=...)",
    "add_watch_callback": "a thread iterating watch(key), or recipes.ConfigWatcher.on_change",
    "add_watch_prefix_callback": "a thread iterating watch(prefix, prefix=True)",
    "cancel_watch": "watch.cancel()",
    "refresh_lease": "lease.refresh() on the Lease grant() returned, or keep_alive(lease)",
    "revoke_lease": "revoke(lease)",
    "get_lease_info": "time_to_live(lease, keys=True)",
    "members": "member_list()",
    "add_member": "member_add(peer_urls)",
    "remove_member": "member_remove(member_id)",
    "update_member": "member_update(member_id, peer_urls)",
    "list_alarms": "alarms()",
    "disarm_alarm": "disarm(AlarmType.NOSPACE, member_id)",
    "create_alarm": "nothing: etcd raises its alarms itself",
    "hash": "hash_kv(revision)",
}


def missing(owner: object, name: str) -> AttributeError:
    """The AttributeError for ``owner.name``, with guidance when it is another client's."""
    kind = type(owner).__name__
    hint = OTHER_CLIENTS.get(name)
    if hint is None:
        return AttributeError(f"{kind!r} object has no attribute {name!r}", name=name, obj=owner)
    return AttributeError(
        f"{kind} has no {name!r} (a python-etcd3/aetcd name): use {hint} "
        "(docs/migration.md maps their calls to ours)",
        name=name,
        obj=owner,
    )
