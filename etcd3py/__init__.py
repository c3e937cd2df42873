"""etcd3py: an etcd v3 client for Python."""
