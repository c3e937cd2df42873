"""etcdctl's cluster commands on a 3-member cluster (real etcd processes, server_ref
processes started with the same flags, or server_ref's EmbeddedCluster), compared with
one expected transcript.

Members are named by their rank in ID order (<m0> has the lowest ID), in every form
they take (hex and decimal ID, name, peer and client URL); the cluster ID, raft
terms and indexes, sizes and timings are normalised; table padding is dropped (it
follows the widths of random ports). Columns, texts, structure and row order stay.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator

import grpc
import pytest

from etcd3py._proto import rpc_pb2, rpc_pb2_grpc
from tests.conftest import BACKENDS
from tests.support.clusters import (
    RECONFIG_TIMEOUT,
    UNHEALTHY,
    Cluster,
    EtcdClusterBackend,
    cluster_backends,
)
from tests.support.etcdctl import TIMEOUT
from tests.support.servers import etcd_bin_dir, free_port

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.parametrize(
        "cluster", cluster_backends(BACKENDS, processes=True), indirect=True, scope="module"
    ),
]

NUMERIC_COLUMNS = {"RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "DB SIZE", "TOOK"}


class ClusterCtl:
    """etcdctl against a cluster, its output normalised as the module says."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}  # token -> member ID
        self.raw: list[str] = []  # the last outputs, unnormalised

    def refresh(self) -> None:
        """Name the current members: <mN> by ID rank (a member first seen later: <new>)."""
        with grpc.insecure_channel(self.cluster.endpoints[0]) as channel:
            listed = rpc_pb2_grpc.ClusterStub(channel).MemberList(
                rpc_pb2.MemberListRequest(), timeout=10
            )
        self.tokens[f"{listed.header.cluster_id:x}"] = "<cluster>"
        known = {v for v in self.tokens.values()}
        for rank, member in enumerate(sorted(listed.members, key=lambda m: m.ID)):
            hex_id = f"{member.ID:x}"
            token = self.tokens.get(hex_id) or ("<new>" if "<m0>" in known else f"<m{rank}>")
            self.tokens[hex_id] = self.tokens[str(member.ID)] = token
            self.ids[token] = member.ID
            if member.name:
                self.tokens[member.name] = token
            for url in member.peerURLs:
                self.tokens[url] = token + ".peer"
            for url in member.clientURLs:
                self.tokens[url] = token + ".client"
                self.tokens[url.removeprefix("http://")] = token + ".client"

    def run(self, *args: str, endpoint: str | None = None) -> str:
        self.refresh()
        endpoints = endpoint or self.cluster.endpoints[0]
        proc = subprocess.run(
            [str(etcd_bin_dir() / "etcdctl"), f"--endpoints={endpoints}", *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**os.environ, "ETCDCTL_API": "3"},
        )  # fmt: skip
        self.raw.append(proc.stdout)
        self.refresh()  # a member the command added is named too
        errors = " ".join(line for line in proc.stderr.splitlines() if line.startswith("Error:"))
        out = self.normalise(proc.stdout.rstrip("\n"))
        return f"{out}\n{self.normalise(errors)} rc={proc.returncode}".strip()

    def token(self, text: str) -> str:
        return self.tokens.get(text, text)

    def normalise(self, text: str) -> str:
        if text.startswith("{"):
            return json.dumps(self._json(json.loads(text)), sort_keys=True)
        if text.startswith("+"):
            return self._table(text)
        text = re.sub(r"took = [0-9.]+[a-zµ]+", "took = <t>", text)
        # "%16x": a shorter member or cluster ID is padded with spaces
        text = re.sub(r"(?<=^Member) +", " ", text, flags=re.MULTILINE)
        text = re.sub(r"(?<=cluster) +", " ", text)
        return re.sub(r"[^\s,\[\]\"=]+", self._sub, text)

    def _sub(self, match: re.Match[str]) -> str:
        return self.token(match.group(0))

    def _json(self, node: object) -> object:
        if isinstance(node, dict):
            return {k: self._json(v) for k, v in node.items() if k != "header"}
        if isinstance(node, list):
            return [self._json(v) for v in node]
        if isinstance(node, int | str):
            return self.token(str(node)) if str(node) in self.tokens else node
        return node

    def _table(self, text: str) -> str:
        lines = text.splitlines()
        header = [c.strip() for c in lines[1].strip("|").split("|")]
        rows = []
        for line in lines:
            if not line.startswith("|"):
                rows.append("+")
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if line is not lines[1]:
                cells = [
                    "<n>" if column in NUMERIC_COLUMNS else self.token(cell)
                    for column, cell in zip(header, cells, strict=True)
                ]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)


@pytest.fixture(scope="module")
def ctl(cluster: Cluster) -> Iterator[ClusterCtl]:
    cluster.ensure_running()
    ctl = ClusterCtl(cluster)
    ctl.refresh()
    yield ctl
    cluster.ensure_running()


def lead_with_m0(ctl: ClusterCtl) -> None:
    """Make the member with the lowest ID (<m0>) the leader, through etcdctl."""
    lowest = ctl.ids["<m0>"]
    if ctl.cluster.wait_leader() != lowest:
        out = ctl.run("move-leader", f"{lowest:x}", endpoint=",".join(ctl.cluster.endpoints))
        assert re.fullmatch(r"Leadership transferred from <m[12]> to <m0>\n rc=0", out), out
    assert ctl.cluster.wait_leader() == lowest


MEMBER_TABLE = """\
+
| ID | STATUS | NAME | PEER ADDRS | CLIENT ADDRS | IS LEARNER |
+
| <m0> | started | <m0> | <m0>.peer | <m0>.client | false |
| <m1> | started | <m1> | <m1>.peer | <m1>.client | false |
| <m2> | started | <m2> | <m2>.peer | <m2>.client | false |
+
 rc=0"""


def test_member_list(ctl: ClusterCtl) -> None:
    assert ctl.run("member", "list", "-w", "table") == MEMBER_TABLE
    ids = [row.split("|")[1].strip() for row in ctl.raw[-1].splitlines()[3:-1]]
    assert [int(i, 16) for i in ids] == sorted(int(i, 16) for i in ids)  # by ID
    members = [
        {"ID": f"<m{i}>", "name": f"<m{i}>", "peerURLs": [f"<m{i}>.peer"],
         "clientURLs": [f"<m{i}>.client"]}
        for i in range(3)
    ]  # fmt: skip
    assert ctl.run("member", "list", "-w", "json") == (
        json.dumps({"members": members}, sort_keys=True) + "\n rc=0"
    )
    assert '"header":{"cluster_id":' in ctl.raw[-1]
    assert (
        ctl.run("member", "list")
        == "\n".join(
            f"<m{i}>, started, <m{i}>, <m{i}>.peer, <m{i}>.client, false" for i in range(3)
        )
        + "\n rc=0"
    )


def test_endpoint_status_and_health(ctl: ClusterCtl) -> None:
    lead_with_m0(ctl)
    assert ctl.run("endpoint", "status", "--cluster", "-w", "table") == "\n".join([
        "+",
        "| ENDPOINT | ID | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX "
        "| RAFT APPLIED INDEX | ERRORS |",
        "+",
        *(f"| <m{i}>.client | <m{i}> | 3.5.1 | <n> | {str(i == 0).lower()} | false | <n> | <n> "
          "| <n> |  |" for i in range(3)),
        "+",
        " rc=0",
    ])  # fmt: skip
    health = ctl.run("endpoint", "health", "--cluster")
    lines, status = health.rsplit("\n", 1)
    # printed as the checks complete: in any order
    assert sorted(lines.splitlines()) == [
        f"<m{i}>.client is healthy: successfully committed proposal: took = <t>" for i in range(3)
    ]
    assert status == " rc=0"


def test_move_leader(ctl: ClusterCtl) -> None:
    lead_with_m0(ctl)
    endpoints = ",".join(ctl.cluster.endpoints)
    m1 = ctl.ids["<m1>"]
    assert ctl.run("move-leader", f"{m1:x}", endpoint=endpoints) == (
        "Leadership transferred from <m0> to <m1>\n rc=0"
    )
    assert ctl.cluster.wait_leader() == m1
    assert ctl.run("move-leader", "1234", endpoint=endpoints) == (
        "Error: etcdserver: bad leader transferee rc=1"
    )
    follower = ctl.cluster.endpoint(ctl.cluster.index_of(ctl.cluster.wait_leader()) - 1)
    assert re.fullmatch(
        r"Error: no leader endpoint given at \[<m\d>\.client\] rc=128",
        ctl.run("move-leader", f"{m1:x}", endpoint=follower),
    )


def past_reconfig_check(ctl: ClusterCtl, *args: str) -> str:
    """A ``member`` command again while etcd refuses it as too soon (5 s connected to all)."""
    deadline = time.monotonic() + RECONFIG_TIMEOUT
    while True:
        out = ctl.run("member", *args)
        if UNHEALTHY not in out or time.monotonic() > deadline:
            return out
        time.sleep(0.2)  # polling etcd's health check under a deadline


def test_member_add_voter_and_remove(ctl: ClusterCtl) -> None:
    peer = f"http://127.0.0.1:{free_port()}"
    out = past_reconfig_check(ctl, "add", "newbie", f"--peer-urls={peer}")
    added = re.search(r"Member +([0-9a-f]+) added", ctl.raw[-1])
    assert added is not None, out
    try:
        lines = out.split("\n")
        assert lines[:3] == ["Member <new> added to cluster <cluster>", "", 'ETCD_NAME="newbie"']
        initial = re.fullmatch(r'ETCD_INITIAL_CLUSTER="(.*)"', lines[3])
        assert initial is not None, lines[3]
        assert sorted(initial.group(1).split(",")) == [  # in ID order, <new> anywhere
            "<m0>=<m0>.peer", "<m1>=<m1>.peer", "<m2>=<m2>.peer", "newbie=<new>.peer",
        ]  # fmt: skip
        assert lines[4:] == [
            'ETCD_INITIAL_ADVERTISE_PEER_URLS="<new>.peer"',
            'ETCD_INITIAL_CLUSTER_STATE="existing"',
            " rc=0",
        ]
        table = ctl.run("member", "list", "-w", "table").splitlines()
        assert "| <new> | unstarted |  | <new>.peer |  | false |" in table
        assert ctl.run("member", "remove", added.group(1)) == (
            "Member <new> removed from cluster <cluster>\n rc=0"
        )
    finally:
        ctl.run("member", "remove", added.group(1))  # an unstarted voter: removable at once
    assert ctl.run("member", "list", "-w", "table") == MEMBER_TABLE
    assert ctl.run("member", "remove", added.group(1)) == (
        "Error: etcdserver: member not found rc=1"
    )


def test_member_add_learner_promote(ctl: ClusterCtl) -> None:
    learner = ctl.cluster.add_member(learner=True)  # proposed and started
    try:
        deadline = time.monotonic() + 10
        while "| <new> | started |" not in ctl.run("member", "list", "-w", "table"):
            assert time.monotonic() < deadline, "the learner never published its name"
            time.sleep(0.1)  # polling its published attributes under a deadline
        table = ctl.run("member", "list", "-w", "table").splitlines()
        assert "| <new> | started | <new> | <new>.peer | <new>.client | true |" in table
        assert ctl.run("member", "promote", f"{learner.id:x}") == (
            "Member <new> promoted in cluster <cluster>\n rc=0"
        )
        table = ctl.run("member", "list", "-w", "table").splitlines()
        assert "| <new> | started | <new> | <new>.peer | <new>.client | false |" in table
        assert ctl.run("member", "promote", f"{learner.id:x}") == (
            "Error: etcdserver: can only promote a learner member rc=1"
        )
    finally:
        ctl.cluster.remove_member(learner.index)
    assert ctl.run("member", "list", "-w", "table") == MEMBER_TABLE


def test_removed_member_process_exits(ctl: ClusterCtl, request: pytest.FixtureRequest) -> None:
    """A member process removed with ``etcdctl member remove`` exits by itself, with
    status 0 (etcd 3.5.1's, probed), saying it was removed."""
    processes = ctl.cluster
    if not isinstance(processes, EtcdClusterBackend):
        pytest.skip("members in one process: no process to exit")
    added = processes.add_member()
    process = processes.process(added.index)
    out = past_reconfig_check(ctl, "remove", f"{added.id:x}")
    try:
        assert out == "Member <new> removed from cluster <cluster>\n rc=0"
    finally:
        status = processes.wait_removed(added.index)
    assert status == 0
    assert "the member has been permanently removed from the cluster" in process.log_tail()
    assert ctl.run("member", "list", "-w", "table") == MEMBER_TABLE
