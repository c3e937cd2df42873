"""A log write refused by a file-size limit (RLIMIT_FSIZE: a full disk without a
filesystem of its own) leaves the log exactly as before the batch, so that the next
write appends to it cleanly and a restart finds no torn tail. Run in a child process:
the limit applies to the whole process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, sys
from pathlib import Path
from etcd3py.server_ref.storage.wal import Wal, WalError

folder = Path(sys.argv[1])
size = lambda: sum(p.stat().st_size for p in folder.glob("*.wal"))
wal = Wal.create(folder, {"member": 1}, 1, 0, fsync=False)
for index in (1, 2, 3):
    wal.add_entry(index, b"a" * 100)
wal.flush()
before = size()
# a small batch (it fits a write buffer) that crosses the limit part way
resource.setrlimit(resource.RLIMIT_FSIZE, (before + 250, resource.RLIM_INFINITY))
for index in (4, 5, 6):
    wal.add_entry(index, b"b" * 100)
try:
    wal.flush()
    refused = ""
except WalError as err:
    refused = str(err)
after = size()
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
wal.add_entry(4, b"c" * 10)  # room again: the log goes on
wal.flush()
wal.close()
_, replayed = Wal.open(folder, 0, fsync=False)
print(json.dumps({
    "refused": refused, "before": before, "after": after, "cut": replayed.cut_bytes,
    "entries": [[i, data.decode()] for i, data in replayed.entries],
}))
"""


def test_a_write_past_the_file_size_limit_leaves_the_log_as_before(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "wal")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "File too large" in seen["refused"]
    assert seen["after"] == seen["before"]  # the part of the batch written was cut back
    assert seen["cut"] == 0  # no torn tail to cut at the restart
    assert seen["entries"] == [[1, "a" * 100], [2, "a" * 100], [3, "a" * 100], [4, "c" * 10]]
