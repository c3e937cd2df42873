"""Leases (etcd's lease package): the lease table, TTLs, expiry and attached keys."""
