"""The audit log: every command, approval decision and Azure mutation, as rows in the store.

Text and details go through `sanitize` before they are stored. The default is `services.redaction.redact`
when that module is present, else the identity; pass your own to override.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select

from services.outbox import jsonable
from services.redaction import redact
from services.store.approvals_tables import audit_log
from services.store.clock import Clock, utc_now

log = logging.getLogger(__name__)

Sanitizer = Callable[[str], str]

# kinds
COMMAND = "command"
APPROVAL_REQUEST = "approval.request"
APPROVAL_DECISION = "approval.decision"
AZURE_MUTATION = "azure.mutation"

TEXT_LIMIT = 4000
OUTCOME_LIMIT = 32  # the column's width


# Built once: every command adds a row (services/store/sql.py says why).
_INSERT = insert(audit_log).returning(audit_log.c.id)


def identity(text: str) -> str:
    return text


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    kind: str
    user: str | None
    channel: str | None
    text: str
    outcome: str
    details: Mapping[str, Any] | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> AuditEntry:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})

    def line(self) -> str:
        """One line for `/aml audit`: "2026-01-05 09:00 UTC · <@U1> in <#C1> · command `/aml job list` → ok"."""
        who = f"<@{self.user}>" if self.user else "the bot"
        where = f" in <#{self.channel}>" if self.channel else ""
        return f"{self.at:%Y-%m-%d %H:%M} UTC · {who}{where} · {self.kind} `{self.text}` → {self.outcome}"


class AuditLog:
    """Appends and reads audit rows. `record` joins the caller's transaction when given `conn`."""

    def __init__(self, engine: Engine, clock: Clock = utc_now, sanitize: Sanitizer | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.sanitize: Sanitizer = sanitize if sanitize is not None else redact

    def record(
        self,
        kind: str,
        user: str | None,
        channel: str | None,
        text: str,
        outcome: str,
        details: Mapping[str, Any] | None = None,
        *,
        conn: Connection | None = None,
    ) -> int:
        """Add an entry (sanitized); returns its id. With `conn`, it commits or rolls back with the caller."""
        values = {
            "at": self.clock(),
            "kind": kind,
            "user": user,
            "channel": channel,
            "text": self.sanitize(text)[:TEXT_LIMIT],
            "outcome": self.sanitize(outcome)[:OUTCOME_LIMIT],  # a short word: ok, refused, failed…
            "details": self._clean(jsonable(details)) if details is not None else None,
        }
        if conn is not None:
            return int(conn.execute(_INSERT, values).scalar_one())
        with self.engine.begin() as own:
            return int(own.execute(_INSERT, values).scalar_one())

    def recent(self, limit: int = 20, user: str | None = None, *, kind: str | None = None) -> list[AuditEntry]:
        """The newest entries first (`user`: only that person's; `kind`: only that kind)."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(max(1, min(int(limit), 500)))
        if user is not None:
            query = query.where(audit_log.c.user == user)
        if kind is not None:
            query = query.where(audit_log.c.kind == kind)
        with self.engine.connect() as conn:
            return [AuditEntry.from_row(row) for row in conn.execute(query)]

    def _clean(self, value: Any) -> Any:
        """Sanitize every string inside JSON-able details."""
        if isinstance(value, str):
            return self.sanitize(value)
        if isinstance(value, Mapping):
            return {key: self._clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._clean(item) for item in value]
        return value
