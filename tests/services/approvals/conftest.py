"""Fixtures of the approval tests: the store's database fixtures (SQLite and PostgreSQL), an authorizer with a
small cast, a recording executor, and a factory of ApprovalServices (one per simulated replica)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

import tests.services.store.db_fixtures as db_fixtures  # noqa: E402
from services.approvals import ApprovalService  # noqa: E402
from services.audit import AuditLog  # noqa: E402
from services.outbox import Outbox  # noqa: E402
from services.rbac import Authorizer, CachingUserGroupResolver, PermissionConfig, StaticUserGroups  # noqa: E402
from tests.services.approvals.approval_fakes import RecordingExecutor  # noqa: E402
from tests.services.store.store_fakes import FakeClock  # noqa: E402

clock = db_fixtures.clock
engine = db_fixtures.engine
make_db_engine = db_fixtures.make_db_engine
chat = db_fixtures.chat
outbox = db_fixtures.outbox
delivery = db_fixtures.delivery

# U_REQ asks (operator); U_ALICE and U_BOB approve; U_CAROL approves through @mlops; U_ROOT is admin;
# U_VIEW has no grant (viewer by default).
PERMISSIONS = {
    "roles": {
        "admin": {"users": ["U_ROOT"]},
        "approver": {"users": ["U_ALICE", "U_BOB"], "groups": ["@mlops"]},
        "operator": {"users": ["U_REQ"]},
    },
    "actions": {"teardown.workspace": "operator", "teardown.rg": "operator", "compute.delete": "operator"},
    "approvals": {"teardown.rg": 2},
}


@pytest.fixture
def authorizer() -> Authorizer:
    groups = CachingUserGroupResolver(StaticUserGroups({"@mlops": {"U_CAROL"}}))
    return Authorizer(PermissionConfig.from_mapping(PERMISSIONS), groups)


@pytest.fixture
def executor() -> RecordingExecutor:
    return RecordingExecutor()


@pytest.fixture
def make_service(
    make_db_engine: Callable[[], Engine], authorizer: Authorizer, executor: RecordingExecutor, clock: FakeClock
) -> Callable[..., ApprovalService]:
    """A new ApprovalService; with no engine, on a NEW engine of the same database (another replica)."""

    def make(engine: Engine | None = None, **kwargs: object) -> ApprovalService:
        engine = engine or make_db_engine()
        return ApprovalService(engine, Outbox(clock), authorizer, clock, executor=executor, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def service(engine: Engine, make_service: Callable[..., ApprovalService]) -> ApprovalService:
    return make_service(engine)


@pytest.fixture
def audit(engine: Engine, clock: FakeClock) -> AuditLog:
    return AuditLog(engine, clock)
