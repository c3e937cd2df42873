"""``python -m etcd3py``: the etcd3py command line (etcdctl's commands and output)."""

from etcd3py.cli import main

if __name__ == "__main__":
    main()
