"""The prediction log keeps every line a whole record through a full disk or a crash.

On a full disk the kernel writes what fits, then fails (ENOSPC): that partial line must
not stay for the next record to be glued onto. Simulated with a short ``os.write``, and
for real on a 64 KiB tmpfs mounted in a user namespace where the system allows one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.monitoring.logs import read_log
from {{ cookiecutter.module_name }}.prediction_log import rotating_file
from {{ cookiecutter.module_name }}.prediction_log.appender import (
    PredictionLog,
)

# Run in a fresh mount namespace on a tmpfs at argv[1]: ten lines, then fill the disk,
# then a line larger than what is left, then free the disk and write one more line.
FILL_THE_DISK = """
import errno, json, os, sys
from pathlib import Path
from {{ cookiecutter.module_name }}.prediction_log.rotating_file import RotatingFile

folder = Path(sys.argv[1])
log = RotatingFile(folder / "p.jsonl", max_bytes=1 << 20, backups=1, on_too_large=print)

def line(number, width=80):
    return (json.dumps({"n": number, "pad": "x" * width}) + "\\n").encode()

log.write([line(n) for n in range(10)])
filler = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
for size in (4096, 1):  # every free page, then every free byte
    try:
        while True:
            os.write(filler, b"\\0" * size)
    except OSError:
        pass
try:
    log.write([line(10, width=8000)])
    failure = None
except OSError as error:
    failure = errno.errorcode[error.errno]
os.close(filler)
os.unlink(folder / "filler")
log.write([line(11)])
print(json.dumps({"failure": failure, "text": (folder / "p.jsonl").read_text()}))
"""
MOUNT = 'mount -t tmpfs -o size=64k tmpfs "$0"'


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"size": [float(i) for i in range(rows)], "colour": ["red"] * rows})


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_short_write_then_enospc_leaves_no_partial_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.jsonl"
    reasons: list[str] = []
    log = PredictionLog(
        path, max_bytes=1 << 20, backups=1, on_error=lambda reason, _: reasons.append(reason)
    )
    assert log.log("before", "v1", frame(2), ["a", "b"])
    real_write = os.write
    calls: list[int] = []

    def disk_fills(handle: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:  # the kernel writes what fits ...
            return real_write(handle, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... then fails

    with monkeypatch.context() as patch:
        patch.setattr(rotating_file.os, "write", disk_fills)
        assert not log.log("lost", "v1", frame(3), ["a"] * 3)
    assert len(calls) == 2
    assert reasons == ["ENOSPC"]

    assert log.log("after", "v1", frame(1), ["a"])
    records = [json.loads(line) for line in lines_of(path)]  # every line is whole
    assert [record["request_id"] for record in records] == ["before", "before", "after"]


def test_a_line_cut_by_a_crash_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    log = PredictionLog(path, max_bytes=1 << 20, backups=1)
    assert log.log("before", "v1", frame(1), ["a"])
    whole = path.read_bytes()
    path.write_bytes(whole + whole[: len(whole) // 2])  # a writer killed mid-line
    assert log.log("after", "v1", frame(1), ["a"])
    lines = lines_of(path)
    assert len(lines) == 3
    assert json.loads(lines[-1])["request_id"] == "after"
    assert list(read_log(path).meta["request_id"]) == ["before", "after"]


def test_a_full_filesystem_leaves_only_whole_lines(tmp_path: Path) -> None:
    """On a real 64 KiB filesystem: ENOSPC after a short write, then space again."""
    mount = tmp_path / "small"
    mount.mkdir()
    namespace = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c"]
    if shutil.which("unshare") is None:
        pytest.skip("no small filesystem: unshare (util-linux) is not installed")
    probe = subprocess.run(
        [*namespace, MOUNT, str(mount)], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(
            "no small filesystem: this system does not let a user mount a tmpfs in a user "
            f"namespace ({probe.stderr.strip()}); the short-write test covers the same path"
        )
    script = f'{MOUNT} && exec "$1" -c "$2" "$0"'
    result = subprocess.run(
        [*namespace, script, str(mount), sys.executable, FILL_THE_DISK],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["failure"] == "ENOSPC"
    records = [json.loads(line) for line in outcome["text"].splitlines()]  # every line is whole
    assert [record["n"] for record in records] == [*range(10), 11]
