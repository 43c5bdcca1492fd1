"""Fakes of the approval tests."""

from __future__ import annotations

import threading
import time

from services.approvals import ApprovalRequest


class RecordingExecutor:
    """Counts runs (thread-safe); can be slowed down, made to fail, or to kill the 'process'."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self.delay = 0.0
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def __call__(self, request: ApprovalRequest) -> str:
        with self._lock:
            self.runs.append(request.id)
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return f"Deleted {request.what}."

    def count(self, request_id: int) -> int:
        with self._lock:
            return self.runs.count(request_id)
