"""The detached runner of one local job: `python -m services.cloud.local.runner <job-dir>`.

Started by the local backend in a new session (so it outlives the bot and its process group is the job's
whole process tree). It waits for a free slot of the job's compute (an flock per slot, released by the
kernel whatever happens to this process), starts the command with output captured to the job's log,
and records every transition, the pid and the exit code in the job folder. Cancel is done by the backend:
it marks the job Canceled, then kills this process group.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from services.cloud.local._fs import file_lock, pid_alive, process_start_ticks, read_json, try_lock
from services.cloud.local._state import (
    COMPLETED,
    FAILED,
    JOB_FILE,
    QUEUED,
    RUNNING,
    STATUS_LOCK,
    TERMINAL,
    accepts_jobs,
    compute_file,
    read_status,
    slots_dir,
    update_status,
    update_status_locked,
)

POLL_SECONDS = 0.2
_ERROR_WORDS = re.compile(r"error|exception|fatal|failed|denied|not found|no such", re.IGNORECASE)


def last_error_line(log_path: Path, *, limit: int = 65536) -> str | None:
    """The last line of the log that reads like an error (else the last non-empty line)."""
    try:
        with log_path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_WORDS.search(line) and not line.startswith("Traceback (most recent call last)"):
            return line[:500]
    return lines[-1][:500] if lines else None


def describe_exit(code: int, log_path: Path) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        reason = f"killed by {name}"
    else:
        reason = f"exit code {code}"
    line = last_error_line(log_path)
    return f"{line} ({reason})" if line else f"The command failed ({reason})."


def _older_waiting(job_dir: Path, compute: str, mine: tuple[str, str]) -> bool:
    """Whether another job on the same compute has been waiting longer (first come, first served)."""
    for other in job_dir.parent.iterdir():
        if other == job_dir or other.name.startswith("."):
            continue
        status = read_status(other)
        if status.get("status") != QUEUED or str(status.get("compute", "")).lower() != compute.lower():
            continue
        if (str(status.get("created_at", "")), other.name) >= mine:
            continue
        runner_pid = status.get("runner_pid")
        if isinstance(runner_pid, int) and pid_alive(runner_pid, status.get("runner_start")):
            return True
    return False


def _acquire_slot(spec: dict[str, Any], job_dir: Path) -> int | None:
    """Wait for a free slot; the held lock's fd, or None when the job finished meanwhile (canceled)."""
    computes_dir = Path(spec["computes_dir"])
    name = str(spec["compute"])
    mine = (str(read_status(job_dir).get("created_at", "")), job_dir.name)
    while True:
        if not (job_dir / JOB_FILE).is_file() or read_status(job_dir).get("status") in TERMINAL:
            return None
        record = read_json(compute_file(computes_dir, name))
        if record is None:
            update_status(job_dir, FAILED, error=f"The compute `{name}` was deleted before the job could start.")
            return None
        if accepts_jobs(record) and not _older_waiting(job_dir, name, mine):
            for index in range(max(1, int(record.get("max_concurrent_jobs") or 1))):
                fd = try_lock(slots_dir(computes_dir, name) / f"{index}.lock")
                if fd is not None:
                    return fd
        time.sleep(POLL_SECONDS)


def run(job_dir: Path) -> int:
    spec = read_json(job_dir / JOB_FILE)
    if spec is None:
        print(f"no {JOB_FILE} in {job_dir}", file=sys.stderr)
        return 2
    update_status(job_dir, runner_pid=os.getpid(), runner_start=process_start_ticks(os.getpid()))
    slot_fd = _acquire_slot(spec, job_dir)
    if slot_fd is None:
        return 0
    log_path = Path(spec["log"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(job_dir / STATUS_LOCK):
        if read_status(job_dir).get("status") in TERMINAL:
            return 0
        with log_path.open("ab") as log:
            child = subprocess.Popen(  # the command runs in this runner's process group (one killpg ends all)
                spec["argv"],
                cwd=spec["cwd"],
                env=spec["env"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        # still under the lock: a cancel sees either Queued (no child yet) or Running with the pid
        update_status_locked(job_dir, RUNNING, pid=child.pid, pid_start=process_start_ticks(child.pid))
    code = child.wait()
    if code == 0:
        update_status(job_dir, COMPLETED, exit_code=0, error=None)
    else:
        update_status(job_dir, FAILED, exit_code=code, error=describe_exit(code, log_path))
    os.close(slot_fd)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m services.cloud.local.runner <job-dir>", file=sys.stderr)
        return 2
    job_dir = Path(argv[0])
    try:
        return run(job_dir)
    except Exception as err:  # record why, so the job does not stay Queued/Running for ever
        traceback.print_exc()
        update_status(job_dir, FAILED, error=f"The local job runner failed: {type(err).__name__}: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
