"""Coordination recipes built on the public etcd3py client API."""
