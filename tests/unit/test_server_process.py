"""The reference server as users start it: the CLI process and EmbeddedServer."""

from __future__ import annotations

import dataclasses
import inspect
import signal
import socket
import subprocess
import sys

import grpc
import pytest

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from etcd3py.server_ref import EmbeddedServer
from etcd3py.server_ref.embed.cli import build_parser
from etcd3py.server_ref.embed.config import DEFAULTS, Config, parse_duration
from tests.support.servers import free_port, wait_until_serving


def put_and_get(endpoint: str) -> bytes:
    with grpc.insecure_channel(endpoint) as channel:
        kv = rpc_pb2_grpc.KVStub(channel)
        kv.Put(rpc_pb2.PutRequest(key=b"k", value=b"v"), timeout=5)
        return bytes(kv.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=5).kvs[0].value)


def test_cli_serves_until_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "etcd3py.server_ref",
            "--listen-client-urls", f"http://127.0.0.1:{port}",
            "--name", "node-a",
            "--experimental-watch-progress-notify-interval", "2s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_until_serving(f"127.0.0.1:{port}", 30, lambda: proc.poll() is None)
        assert put_and_get(f"127.0.0.1:{port}") == b"v"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            members = rpc_pb2_grpc.ClusterStub(channel).MemberList(
                rpc_pb2.MemberListRequest(), timeout=5
            )
        assert [m.name for m in members.members] == ["node-a"]
        assert members.members[0].clientURLs == [f"http://127.0.0.1:{port}"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert f"serving clients on http://127.0.0.1:{port}" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "etcd3py.server_ref",
             "--listen-client-urls", f"http://127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"cannot listen on http://127.0.0.1:{port}" in proc.stderr


def test_cli_rejects_a_bad_duration() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "etcd3py.server_ref",
         "--experimental-watch-progress-notify-interval", "soon"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "invalid duration 'soon'" in proc.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600.0), ("1s", 1.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5h", 5400.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_one_table_of_settings_gives_every_default() -> None:
    assert Config(**vars(build_parser().parse_args([]))) == DEFAULTS
    settings = {f.name for f in dataclasses.fields(Config)}
    shared = [
        p for p in inspect.signature(EmbeddedServer).parameters.values() if p.name in settings
    ]
    assert len(shared) == 12
    for param in shared:
        assert param.default == getattr(DEFAULTS, param.name)


def test_flags_take_etcds_value_forms() -> None:
    args = build_parser().parse_args(
        ["--listen-client-urls", "http://127.0.0.1:1, unix:///tmp/s",
         "--experimental-watch-progress-notify-interval", "1m30s", "--max-txn-ops", "7"]
    )  # fmt: skip
    config = Config(**vars(args))
    assert config.listen_client_urls == ("http://127.0.0.1:1", "unix:///tmp/s")
    assert config.unsafe_no_fsync is False and config.data_dir is None
    for given, meant in (
        ([], False),
        (["--unsafe-no-fsync"], True),
        (["--unsafe-no-fsync=false"], False),
        (["--unsafe-no-fsync=true"], True),
    ):
        assert build_parser().parse_args(given).unsafe_no_fsync is meant  # fmt: skip
    assert config.progress_notify_interval == 90.0
    assert config.server_config().max_txn_ops == 7


def test_embedded_servers_are_independent() -> None:
    with EmbeddedServer() as one, EmbeddedServer() as two:
        assert one.port != two.port
        assert put_and_get(one.endpoint) == b"v"
        with grpc.insecure_channel(two.endpoint) as channel:
            kv = rpc_pb2_grpc.KVStub(channel)
            assert kv.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=5).count == 0
        endpoint = one.endpoint
    with pytest.raises(RuntimeError):
        _ = one.endpoint
    with grpc.insecure_channel(endpoint) as channel:
        with pytest.raises(grpc.RpcError) as info:
            rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=b"k"), timeout=2)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
