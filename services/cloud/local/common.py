"""Helpers several local services share: compute records, active jobs, and stopping a job's process tree."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.cloud.local._fs import file_lock, group_members, kill_group, pid_alive, read_json
from services.cloud.local._state import (
    CANCELED,
    JOB_FILE,
    STATUS_LOCK,
    TERMINAL,
    effective_compute,
    read_status,
    update_status_locked,
)
from services.cloud.local.layout import Layout, find_child, not_found

TERM_GRACE_SECONDS = 3.0
KILL_GRACE_SECONDS = 2.0


def compute_names(workspace_dir: Path) -> list[str]:
    folder = Layout.computes_dir(workspace_dir)
    if not folder.is_dir():
        return []
    return sorted((p.stem for p in folder.glob("*.json") if not p.name.startswith(".")), key=str.lower)


def find_compute_file(workspace_dir: Path, name: str) -> Path:
    found = find_child(Layout.computes_dir(workspace_dir), f"{name}.json")
    if found is None or not found.is_file():
        raise not_found("compute", name, compute_names(workspace_dir), where=f" in workspace `{workspace_dir.name}`")
    return found


def load_compute(workspace_dir: Path, name: str) -> dict[str, Any]:
    path = find_compute_file(workspace_dir, name)
    record = read_json(path)
    if record is None:
        raise not_found("compute", name, compute_names(workspace_dir), where=f" in workspace `{workspace_dir.name}`")
    return effective_compute(record)


def job_dirs(workspace_dir: Path) -> list[Path]:
    folder = Layout.jobs_dir(workspace_dir)
    if not folder.is_dir():
        return []
    # `.tmp-…` folders are submits still staging, or left by a process killed mid-submit: not jobs
    return [p for p in folder.iterdir() if not p.name.startswith(".") and (p / JOB_FILE).is_file()]


def active_jobs(workspace_dir: Path, compute: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Jobs not yet finished (Queued or Running), optionally only those on `compute`, with their status."""
    found = []
    for job_dir in job_dirs(workspace_dir):
        status = read_status(job_dir)
        if status.get("status") in TERMINAL:
            continue
        if compute is not None:
            spec = read_json(job_dir / JOB_FILE) or {}
            if str(spec.get("compute", "")).lower() != compute.lower():
                continue
        found.append((job_dir, status))
    return found


def kill_job_tree(status: dict[str, Any], reap: Callable[[], None] | None = None) -> None:
    """End the job's whole process group (the runner leads it) and wait until nothing of it runs.

    `reap` collects the runner when this process started it (so it does not linger as a zombie).
    """
    pgid = status.get("runner_pid")
    if not isinstance(pgid, int):
        return
    ours = pid_alive(pgid, status.get("runner_start")) or pid_alive(status.get("pid"), status.get("pid_start"))
    if not ours:
        return
    for sig, grace in ((signal.SIGTERM, TERM_GRACE_SECONDS), (signal.SIGKILL, KILL_GRACE_SECONDS)):
        if not kill_group(pgid, sig):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not group_members(pgid) and not pid_alive(pgid):
                return
            if reap is not None:
                reap()
            time.sleep(0.02)


def cancel_job_dir(job_dir: Path, reap: Callable[[], None] | None = None) -> dict[str, Any] | None:
    """Mark the job Canceled and kill its processes; the status before, or None if it had finished."""
    with file_lock(job_dir / STATUS_LOCK):
        before = read_status(job_dir)
        if before.get("status") in TERMINAL:
            return None
        update_status_locked(job_dir, CANCELED, error=None)
    kill_job_tree(before, reap)
    return before
