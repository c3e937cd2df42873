"""The one exception the reference server raises for etcd errors."""

from __future__ import annotations

from etcd3py._etcd_errors import ErrorSpec


class ServerError(Exception):
    """An etcd error; the gRPC layer turns it into ``spec``'s status code and message."""

    def __init__(self, spec: ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec
