"""Every command module, imported for its side effect: each registers its commands on
``app.root``. A new command family is one module here and one line below."""

from . import auth, check, concurrency, endpoint, kv, lease, maintenance, member, txn, version  # noqa: F401
