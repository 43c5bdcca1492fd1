"""Azure mutations made by commands land in the audit trail with who asked and how it ended; reads do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.audit import AZURE_MUTATION, AuditLog
from services.audited import acting, audited_backend
from services.catalog import JobCatalog
from services.cloud.local import build_local_backend
from services.errors import NotFound
from services.ports import CloudBackend
from services.store import create_schema, make_engine

ROOT = Path(__file__).parents[2]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    return engine


@pytest.fixture
def backend(tmp_path: Path, engine: Engine) -> CloudBackend:
    raw = build_local_backend(tmp_path / "local", JobCatalog(ROOT / "jobs"), compute_transition_seconds=0)
    return audited_backend(raw, AuditLog(engine))


def mutations(engine: Engine) -> list[tuple[str | None, str | None, str, str]]:
    entries = reversed(AuditLog(engine).recent(50, kind=AZURE_MUTATION))
    return [(e.user, e.channel, e.text, e.outcome) for e in entries]


def test_a_long_change_is_recorded_when_accepted_and_when_it_ends(backend: CloudBackend, engine: Engine) -> None:
    with acting("U_BOB", "C_ML"):
        backend.computes.begin_create_instance("nb-bob", size="Standard_DS3_v2").result(30)
    assert mutations(engine) == [
        ("U_BOB", "C_ML", "computes.begin_create_instance nb-bob size=Standard_DS3_v2", "started"),
        ("U_BOB", "C_ML", "computes.begin_create_instance nb-bob size=Standard_DS3_v2", "ok"),
    ]


def test_a_refused_change_is_recorded_as_failed_with_the_reason(backend: CloudBackend, engine: Engine) -> None:
    with acting("U_CAROL", "C_ML"), pytest.raises(NotFound):
        backend.computes.begin_stop("no-such-compute")
    ((user, _, text, outcome),) = mutations(engine)
    assert (user, text, outcome) == ("U_CAROL", "computes.begin_stop no-such-compute", "failed")
    (entry,) = AuditLog(engine).recent(1)
    assert entry.details and "no-such-compute" in entry.details["error"]


def test_reads_leave_no_rows(backend: CloudBackend, engine: Engine) -> None:
    backend.computes.list()
    backend.workspaces.list()
    assert mutations(engine) == []


def test_a_scale_to_zero_is_recorded_like_any_long_change(backend: CloudBackend, engine: Engine) -> None:
    backend.computes.begin_create_cluster("warm", size="Standard_DS3_v2", min_nodes=1, max_nodes=2).result(30)
    with acting("U_BOB", "C_ML"):
        scaled = backend.computes.begin_scale_to_zero("warm").result(30)
    assert scaled.min_nodes == 0
    assert mutations(engine)[-2:] == [
        ("U_BOB", "C_ML", "computes.begin_scale_to_zero warm", "started"),
        ("U_BOB", "C_ML", "computes.begin_scale_to_zero warm", "ok"),
    ]
