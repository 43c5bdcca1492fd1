"""The audit log: newest first, filtered by person, sanitized before it is stored."""

from __future__ import annotations

from sqlalchemy import Engine

from services.audit import AuditLog, identity
from tests.services.store.store_fakes import FakeClock


def test_recent_entries_newest_first_with_limit_and_user_filter(audit: AuditLog, clock: FakeClock) -> None:
    for n in range(5):
        clock.advance(1)
        audit.record("command", f"U{n % 2}", "C_ML", f"/aml job list #{n}", "ok", {"n": n})
    recent = audit.recent(limit=3)
    assert [e.text for e in recent] == ["/aml job list #4", "/aml job list #3", "/aml job list #2"]
    assert recent[0].at > recent[1].at and recent[0].details == {"n": 4} and recent[0].channel == "C_ML"
    assert [e.details["n"] for e in audit.recent(user="U1") if e.details] == [3, 1]
    assert audit.recent(user="U_NOBODY") == []
    assert [e.kind for e in audit.recent(kind="command")] == ["command"] * 5
    assert recent[0].line() == "2026-01-05 09:00 UTC · <@U0> in <#C_ML> · command `/aml job list #4` → ok"


def test_text_and_details_are_sanitized_before_they_are_stored(engine: Engine, clock: FakeClock) -> None:
    audit = AuditLog(engine, clock, sanitize=lambda text: text.replace("s3cret", "[redacted]"))
    audit.record("command", "U1", "C1", "/aml storage create --key s3cret", "ok", {"argv": ["--key", "s3cret"], "n": 1})
    [entry] = AuditLog(engine, clock, sanitize=identity).recent()
    assert entry.text == "/aml storage create --key [redacted]"
    assert entry.details == {"argv": ["--key", "[redacted]"], "n": 1}


def test_by_default_secrets_are_redacted_before_they_are_stored(engine: Engine, clock: FakeClock) -> None:
    sas = "https://a.blob.core.windows.net/c?sv=1&sig=abcDEF123%3D"
    AuditLog(engine, clock).record("azure.mutation", "U1", "C1", f"create container {sas}", "failed", {"error": sas})
    [entry] = AuditLog(engine, clock).recent()
    assert entry.details is not None
    for stored in (entry.text, str(entry.details["error"])):
        assert "abcDEF123" not in stored and "sig=" in stored
