"""Endpoints and settings are checked before any connection, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from etcd3py import Client, InvalidArgumentError
from etcd3py._config import parse_endpoint


@pytest.mark.parametrize(
    ("text", "target", "secure"),
    [
        ("127.0.0.1:2379", "127.0.0.1:2379", False),
        ("http://localhost:2379", "localhost:2379", False),
        ("https://etcd.example:2379", "etcd.example:2379", True),
        ("[::1]:2379", "[::1]:2379", False),
        ("http://[::1]:2379/", "[::1]:2379", False),
        ("unix:///run/etcd.sock", "unix:///run/etcd.sock", False),
        ("unix://etcd.sock", "unix:etcd.sock", False),
    ],
)
def test_endpoint_forms(text: str, target: str, secure: bool) -> None:
    endpoint = parse_endpoint(text, tls=False)
    assert (endpoint.target, endpoint.secure, endpoint.display) == (target, secure, text)


def test_tls_settings_make_plain_endpoints_secure() -> None:
    assert parse_endpoint("127.0.0.1:2379", tls=True).secure


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost", "must be a host and a port"),
        ("ftp://host:21", "scheme must be http, https or unix"),
        ("http://host:2379/v3", "must be host:port without a path"),
        ("", "must be a non-empty str"),
        ("unix://", "must be a unix socket path"),
        ("127.0.0.1:99999", "must be a port from 1 to 65535"),
        ("127.0.0.1:0", "must be a port from 1 to 65535"),
        ("[", "Invalid IPv6 URL"),  # found by the argument property test
        ("[::1:2379", "Invalid IPv6 URL"),
    ],
)
def test_bad_endpoints(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        parse_endpoint(text, tls=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lb_policy": "random"}, "lb_policy must be one of"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0, not 0"),
        ({"timeout": "5"}, "timeout must be a number of seconds above 0, not str '5'"),
        ({"timeout": float("nan")}, "timeout must be a number of seconds above 0, not nan"),
        ({"username": "root"}, "both username and password"),
        ({"cert_cert": "c.pem"}, "both cert_cert and cert_key"),
        ({"keepalive_time": -1}, "keepalive_time must be a number of seconds above 0"),
        ({"endpoints": []}, "endpoints must be at least one endpoint"),
        ({"endpoints": 2379}, "endpoints must be a str or a list of str"),
        ({"endpoints": ["http://a:1", "https://b:2"]}, "mix http and https"),
        ({"watch_buffer": 1}, "watch_buffer must be an int from 2"),
    ],
)
def test_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Client(**kwargs)  # type: ignore[arg-type]


def test_unreadable_certificate(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="ca_cert must be a readable file"):
        Client("https://127.0.0.1:2379", ca_cert=tmp_path / "missing.pem")


def test_endpoint_list_in_one_string() -> None:
    client = Client("a:1,b:2")
    assert client.endpoints == ["a:1", "b:2"]
    client.close()
