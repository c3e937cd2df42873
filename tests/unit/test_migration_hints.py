"""python-etcd3 and aetcd habits fail with guidance, and never shadow a real name."""

from __future__ import annotations

import pytest

from etcd3py import ArgumentTypeError, AsyncClient, Client
from etcd3py._migration import OTHER_CLIENTS


@pytest.mark.parametrize("name", sorted(OTHER_CLIENTS))
@pytest.mark.parametrize("face", [Client, AsyncClient])
def test_another_clients_name_points_to_ours(face: type, name: str) -> None:
    assert name not in dir(face)  # a hint must never hide one of our own methods
    client = face("127.0.0.1:2379")  # (no connection is made)
    with pytest.raises(AttributeError, match=r"docs/migration\.md") as info:
        getattr(client, name)
    assert OTHER_CLIENTS[name] in str(info.value)
    assert not hasattr(client, name)


def test_other_missing_names_stay_plain() -> None:
    client = Client("127.0.0.1:2379")
    with pytest.raises(AttributeError, match="'Client' object has no attribute 'get_prfix'"):
        client.get_prfix  # type: ignore[attr-defined]  # noqa: B018
    client.close()


def test_a_lease_context_manager_given_as_a_lease_says_how_to_hold_it() -> None:
    client = Client("127.0.0.1:2379")
    with pytest.raises(ArgumentTypeError, match=r"client.lease\(ttl\) is a context manager"):
        client.put("k", "v", lease=client.lease(10))  # type: ignore[arg-type]
    client.close()
