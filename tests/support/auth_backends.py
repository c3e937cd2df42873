"""Which servers the auth oracle tests compare: fresh ones of each kind (auth is
server-wide, so never the session's), started by ``auth_member`` with bcrypt at cost 4
so that each Authenticate is cheap.

``ETCD3PY_AUTH_BACKENDS=etcd,etcd`` compares two real etcds: a check of the tests
themselves (of their normalisation, of the differences they can see).
"""

from __future__ import annotations

import os

AUTH_BACKENDS = os.environ.get("ETCD3PY_AUTH_BACKENDS", "etcd,server_ref").split(",")
BCRYPT_COST = 4
