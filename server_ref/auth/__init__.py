"""Authentication and role-based access control, as etcd 3.5.1's auth store."""
