"""The bot's background loops (job watcher sweeps, outbox delivery), each in its own thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]


class BackgroundLoops:
    """Start named loops that run until told to stop; each loop returns when its stop event is set."""

    def __init__(self, loops: dict[str, Loop]) -> None:
        self._loops = loops
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        for name, loop in self._loops.items():
            thread = threading.Thread(target=self._run, args=(name, loop), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, name: str, loop: Loop) -> None:
        try:
            loop(self._stop)
        except Exception:
            logger.exception("background loop %s stopped on an error", name)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
