"""One module per client family; each runs one workload per process (see harness.py).

Modules here run under other virtualenvs too (the peers'): only the raw-stub and
etcd3py workers may import etcd3py.
"""
