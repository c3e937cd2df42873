"""The multi-version key-value store (etcd's storage/mvcc): revisions, history, key index,
and what watchers are owed."""
