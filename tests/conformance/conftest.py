from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from etcd3py._proto import rpc_pb2
from tests.support.backends import RPC_TIMEOUT, Backend


@pytest.fixture
def grant(backend: Backend) -> Iterator[Callable[..., int]]:
    """Grant leases that are revoked after the test (so no key expires under a later test)."""
    granted: list[int] = []

    def _grant(ttl: int = 60, lease_id: int = 0) -> int:
        resp = backend.grant(ttl, lease_id)
        granted.append(resp.ID)
        return int(resp.ID)

    yield _grant
    for lease_id in granted:
        try:
            backend.lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease_id), timeout=RPC_TIMEOUT)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
