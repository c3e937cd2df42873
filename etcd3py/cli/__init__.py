"""etcd3py's command line: etcdctl's commands and etcd's benchmark tool on the SDK."""
