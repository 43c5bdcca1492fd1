"""The services a command may use, built once at start-up and injected into the app."""

from __future__ import annotations

from dataclasses import dataclass

from services.catalog import JobCatalog
from services.ports import CloudBackend


@dataclass(frozen=True)
class Services:
    """Everything the use cases need; None where a feature is not wired (tests inject only what they use)."""

    backend: CloudBackend | None = None
    catalog: JobCatalog | None = None
