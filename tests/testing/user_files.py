"""Test files as a user of the plugin writes them, run by pytester in these tests."""

from __future__ import annotations

# every fixture once; two tests that show each starts on a fresh server
EVERY_FIXTURE = """
import pytest
from etcd3py import Client


def test_client(etcd_client, etcd_prefix):
    etcd_client.put(etcd_prefix + "a", "1")
    assert etcd_client.get(etcd_prefix + "a").value == b"1"


def test_endpoint(etcd_endpoint, etcd_prefix):
    with Client(etcd_endpoint) as client:
        client.put(etcd_prefix + "b", "2")
        assert client.get(etcd_prefix + "b").value == b"2"


@pytest.mark.anyio
async def test_async_client(async_etcd_client, etcd_prefix):
    await async_etcd_client.put(etcd_prefix + "c", "3")
    assert (await async_etcd_client.get(etcd_prefix + "c")).value == b"3"


def test_server_writes(etcd_server, etcd_client):
    etcd_client.put("left-behind", "x")
    assert etcd_server.endpoint in etcd_client.endpoints[0]


def test_server_is_fresh(etcd_server, etcd_client):
    assert etcd_client.get("", from_key=True).kvs == []


def test_cluster(etcd_cluster):
    with Client(etcd_cluster.endpoints) as client:
        client.put("k", "v")
        assert {m.name for m in client.member_list()} == {"m0", "m1", "m2"}
"""
EMBEDDED_ONLY = 3  # test_server_writes, test_server_is_fresh, test_cluster

ANYIO_BACKEND = """
import pytest


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""

ASYNC_UNDER = """
import pytest


@pytest.mark.{marker}
async def test_async_client(async_etcd_client, etcd_prefix):
    await async_etcd_client.put(etcd_prefix + "k", "v")
    assert (await async_etcd_client.get(etcd_prefix + "k")).value == b"v"


@pytest.mark.{marker}
async def test_a_second_loop_gets_its_own_client(async_etcd_client, etcd_prefix):
    assert (await async_etcd_client.get(etcd_prefix + "k")).kvs == []
"""
