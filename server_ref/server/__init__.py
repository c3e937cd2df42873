"""The server of one member (etcd's etcdserver): the one write path, the read path, and the
member's own state (alarms, ids, membership, raft counters, lease expiry)."""
