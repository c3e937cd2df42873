"""The curl examples of docs/server_ref.md run against server_ref as written (their
address changed to the server's): each answers 200 and what it shows parses."""

from __future__ import annotations

import http.client
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from etcd3py.server_ref import EmbeddedServer

PAGE = Path(__file__).resolve().parents[2] / "docs" / "server_ref.md"
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOCS_ADDRESS = "127.0.0.1:2379"


def curl_lines() -> list[str]:
    return [
        line
        for block in SHELL_BLOCK.findall(PAGE.read_text())
        for line in block.splitlines()
        if line.startswith("curl ")
    ]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as server:
        yield server


def test_the_page_has_curl_examples() -> None:
    assert len(curl_lines()) >= 5


@pytest.mark.parametrize("line", curl_lines())
def test_curl_example(server: EmbeddedServer, line: str) -> None:
    words = shlex.split(line)[1:]
    method, body, url = "GET", None, None
    while words:
        word = words.pop(0)
        if word == "-X":
            method = words.pop(0)
        elif word == "-d":
            body = words.pop(0).encode()
        elif word == "-N":
            continue  # no buffering: the answer is read line by line below
        else:
            url = word
    assert url is not None and DOCS_ADDRESS in url
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, parts.path, body=body)
        resp = conn.getresponse()
        assert resp.status == 200
        if resp.getheader("Transfer-Encoding") == "chunked":  # a stream: its first line
            assert "result" in json.loads(resp.readline())
        elif parts.path == "/metrics":
            assert b"# TYPE etcd_server_has_leader gauge" in resp.read()
        else:
            json.loads(resp.read())
    finally:
        conn.close()
