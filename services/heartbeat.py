"""Renew a lease from its own thread while a long piece of work runs (real seconds apart)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Heartbeat:
    """Call `renew` every `every_seconds` until the block ends. `renew` returns False when the lease is lost
    (nothing more to renew); an exception is a store hiccup, and the next beat tries again."""

    def __init__(self, name: str, every_seconds: float, renew: Callable[[], bool]) -> None:
        self.name = name
        self.every_seconds = max(0.01, every_seconds)
        self.renew = renew
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        self.thread = threading.Thread(target=self._run, name=f"{self.name}-lease", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stop.wait(self.every_seconds):
            try:
                if not self.renew():
                    log.warning("%s: its lease was lost; no longer renewing it", self.name)
                    return
            except Exception:
                log.warning("%s: could not renew its lease", self.name, exc_info=True)
