"""The services a command may use, built once at start-up and injected into the app."""

from __future__ import annotations

from dataclasses import dataclass

from services.ports import CloudBackend


@dataclass(frozen=True)
class Services:
    """Everything the use cases need; None where a later feature is not wired yet."""

    backend: CloudBackend | None = None
