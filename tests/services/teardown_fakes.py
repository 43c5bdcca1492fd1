"""An approved teardown request, as TeardownExecutor receives it (shared by the local and Azure teardown tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.approvals import ApprovalRequest, ApprovalState
from services.outbox import jsonable
from services.teardown import TeardownPlan

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def approved(plan: TeardownPlan, request_id: int = 1, reason: str | None = "done with it") -> ApprovalRequest:
    """The request once approved and claimed (details round-tripped through JSON, as the store keeps them)."""
    return ApprovalRequest(
        id=request_id,
        action=plan.action,
        target=plan.target,
        details=json.loads(json.dumps(jsonable(dict(plan.details)))),
        requester="U_REQ",
        channel="C_ML",
        reason=reason,
        needed=1,
        state=ApprovalState.EXECUTING,
        version=3,
        created_at=T0,
        expires_at=T0,
        decided_at=T0,
        decided_by="U_ALICE",
        exec_token="token",
        exec_started_at=T0,
        lease_until=T0,
        finished_at=None,
        result=None,
        error=None,
    )
