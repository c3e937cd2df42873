"""Applying proposals to the store and the lessor (etcd's applierV3 and its wrappers)."""
