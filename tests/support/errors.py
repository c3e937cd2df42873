"""Assertions on etcd errors as they arrive over gRPC."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from etcd3py._etcd_errors import ErrorSpec


def raises_etcd(spec: ErrorSpec, call: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """``call`` must fail with exactly etcd's status code and message for ``spec``."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kw)
    err = info.value
    assert (err.code(), err.details()) == (spec.code, spec.message)
