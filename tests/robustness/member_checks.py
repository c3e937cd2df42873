"""Do the members hold the same data when a run ends? etcd's own corruption check as a
checker: once every member has applied the same raft index and nothing moves, each
member's store revision and HashKV must be equal. A member that lost or skipped applied
entries in a crash shows here even when no client happened to read from it."""

from __future__ import annotations

import time
from collections.abc import Sequence

from etcd3py import Client, EtcdError

from .verdict import OK, Verdict

SETTLE_TIMEOUT = 30.0  # seconds for the members to reach one applied index


def check_members(endpoints: Sequence[str], timeout: float = SETTLE_TIMEOUT) -> Verdict:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with Client(list(endpoints), timeout=5.0) as client:
        while time.monotonic() < deadline:
            try:
                before = [client.status(e) for e in endpoints]
                hashes = [client.hash_kv(0, endpoint=e) for e in endpoints]
                after = [client.status(e) for e in endpoints]
            except EtcdError as err:  # a member still restarting: ask again
                last = f"{type(err).__name__}: {err}"
                time.sleep(0.2)  # polling the members under the deadline
                continue
            applied = {s.raft_applied_index for s in before + after}
            if len(applied) != 1:
                last = f"applied indexes {sorted(applied)}"
                time.sleep(0.2)  # polling the members under the deadline
                continue
            views = [(s.header.revision, h) for s, h in zip(after, hashes, strict=True)]
            if len(set(views)) == 1:
                return OK
            shown = ", ".join(
                f"{e} (member {s.member_id:x}): revision {rev} hash {h}"
                for e, s, (rev, h) in zip(endpoints, after, views, strict=True)
            )
            return Verdict(False, f"members differ at applied index {applied.pop()}: {shown}")
    return Verdict(False, f"the members did not settle within {timeout:.0f} s ({last})")
