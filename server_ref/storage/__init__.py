"""etcd's on-disk formats: bbolt files, etcd 3.5's backend schema, snapshot files and
the HashKV hash, as standalone modules working on neutral dataclasses."""
