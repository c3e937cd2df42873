"""``etcd3py``: etcdctl 3.5's command line on etcd3py's client (``python -m etcd3py``).

Layers: ``app`` (global flags, client, errors and exit codes), ``output`` (one printer per
``--write-out`` format), and one module per command family (``kv``, ...), listed in
``commands``. See docs/cli.md.
"""

from .app import main

__all__ = ["main"]
