"""Every command module, imported for its side effect: each registers its commands on
``app.root``. A new command family is one module here and one line below."""

from . import (  # noqa: F401
    auth,
    check,
    concurrency,
    endpoint,
    help,
    kv,
    lease,
    maintenance,
    member,
    mirror,
    txn,
    version,
    watch,
)
from .app import root
from .benchmark import benchmark

root.add_command(benchmark)  # etcd's benchmark tool, as `etcd3py benchmark ...`
