"""A process that registers a service instance and waits to be killed.

python -m tests.support.registering_process ENDPOINT PREFIX SERVICE ADDRESS TTL
"""

from __future__ import annotations

import sys
import threading

from etcd3py import Client
from etcd3py.recipes import ServiceRegistry


def main() -> None:
    endpoint, prefix, service, address, ttl = sys.argv[1:6]
    with (
        Client(endpoint) as client,
        ServiceRegistry(client, prefix).register(service, address, ttl=int(ttl)),
    ):
        print("registered", flush=True)
        threading.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    main()
