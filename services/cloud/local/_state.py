"""On-disk state shared by the local backend and its job runner: job status files and compute records.

Stdlib only, so the detached runner starts fast. Every status change is a read-modify-write under an
flock on the job folder's lock file, written atomically; a finished status is never overwritten.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.cloud.local._fs import file_lock, iso, read_json, utcnow, write_json

JOB_FILE = "job.json"
STATUS_FILE = "status.json"
STATUS_LOCK = ".status.lock"
LOG_DIR = "user_logs"
LOG_FILE = "std_log.txt"
OUTPUTS_DIR = "outputs"
CODE_DIR = "code"
MLRUNS_DIR = "mlruns"
RUNNER_LOG = "runner.log"

QUEUED = "Queued"
RUNNING = "Running"
COMPLETED = "Completed"
FAILED = "Failed"
CANCELED = "Canceled"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELED})

INSTANCE = "instance"
CLUSTER = "cluster"


def read_status(job_dir: Path) -> dict[str, Any]:
    return read_json(job_dir / STATUS_FILE) or {}


def update_status(job_dir: Path, status: str | None = None, **fields: Any) -> dict[str, Any] | None:
    """Apply `fields` (and a move to `status`) unless the job already finished; the new record or None."""
    if not (job_dir / JOB_FILE).is_file():
        return None  # the job (or its workspace) was deleted: never re-create its folder
    with file_lock(job_dir / STATUS_LOCK):
        return update_status_locked(job_dir, status, **fields)


def update_status_locked(job_dir: Path, status: str | None = None, **fields: Any) -> dict[str, Any] | None:
    """`update_status` for a caller that already holds the job's status lock."""
    current = read_status(job_dir)
    if current.get("status") in TERMINAL:
        return None
    now = iso(utcnow())
    current.update(fields)
    if status is not None and status != current.get("status"):
        current["status"] = status
        current.setdefault("history", []).append({"status": status, "at": now})
        if status == RUNNING:
            current.setdefault("started_at", now)
        if status in TERMINAL:
            current["ended_at"] = now
    write_json(job_dir / STATUS_FILE, current)
    return current


# ---------------------------------------------------------------------- computes
def compute_file(computes_dir: Path, name: str) -> Path:
    return computes_dir / f"{name}.json"


def slots_dir(computes_dir: Path, name: str) -> Path:
    return computes_dir / ".slots" / name


def effective_compute(record: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """The record with a finished Starting/Stopping/Creating transition applied (pure; no write)."""
    transition = record.get("transition")
    if not isinstance(transition, dict):
        return record
    now = time.time() if now is None else now
    until = float(transition.get("until", 0))
    if now < until:
        return record
    done = dict(record)
    done["state"] = transition.get("to", record.get("state"))
    done["transition"] = None
    if done["state"] == RUNNING and record.get("kind") == INSTANCE:
        done["running_since"] = iso(datetime.fromtimestamp(until, UTC))
    if done["state"] != RUNNING and record.get("kind") == INSTANCE:
        done["running_since"] = None
    return done


def accepts_jobs(record: dict[str, Any]) -> bool:
    """Clusters always take jobs (they scale from zero); an instance only while Running."""
    current = effective_compute(record)
    return current.get("kind") == CLUSTER or current.get("state") == RUNNING


def write_compute(computes_dir: Path, record: dict[str, Any]) -> None:
    write_json(compute_file(computes_dir, str(record["name"])), record)
