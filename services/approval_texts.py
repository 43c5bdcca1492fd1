"""What people see of an approval request: the message payloads, the decision line, and plain-words errors and
audit details.

Each payload is a snapshot with a plain-words `text` the renderer can fall back to: the request message
(`approval.request`, then edited as `approval.status`) and the replies in its thread (`approval.progress`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.approval_models import A, ApprovalRequest, D, F, P, R, X
from services.errors import ServiceError
from services.roles import TEARDOWN_RG

KIND_REQUEST = "approval.request"  # the request, with Approve / Reject buttons while pending
KIND_STATUS = "approval.status"  # an edit of the request message (same payload shape as KIND_REQUEST)
KIND_PROGRESS = "approval.progress"  # a reply in the request's thread: {request_id, stage, text}


def plain_error(err: BaseException) -> str:
    """A failure in words for the thread: a ServiceError as it is, anything else by its type and message."""
    if isinstance(err, ServiceError):
        return str(err)
    detail = str(err).strip()
    return f"an unexpected error ({type(err).__name__}{': ' + detail if detail else ''})"


def when(at: datetime | None) -> str:
    """A moment as people read it: 2024-05-01 14:30 UTC."""
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "an unknown time"


def mentions(users: Sequence[str]) -> str:
    """Slack mentions joined in words: <@U1>, <@U2> and <@U3>."""
    names = [f"<@{u}>" for u in users]
    if not names:
        return "nobody"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def counted(n: int, noun: str) -> str:
    """A count with its noun: 1 approval, 2 approvals."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _resource(item: Any) -> str:
    if isinstance(item, Mapping):
        kind, name = item.get("type"), item.get("name")
        return f"{kind} `{name}`" if kind else f"`{name}`"
    return str(item)


def decision_text(req: ApprovalRequest) -> str:
    """The line that replaces the buttons: who decided and when (or who approved so far)."""
    if req.state is P:
        if req.approvers:
            return (
                f"Approved by {mentions(req.approvers)} so far ({len(req.approvers)} of {req.needed}); "
                f"waiting for {counted(req.needed - len(req.approvers), 'more approval')}."
            )
        return f"Waiting for {counted(req.needed, 'approval')}."
    approved = f"Approved by {mentions(req.approvers)} at {when(req.decided_at)}"
    if req.state is A:
        return approved + "."
    if req.state is X:
        return approved + "; deleting…"
    if req.state is D:
        return approved + f"; done {when(req.finished_at)}."
    if req.state is F:
        return approved + f"; failed: {req.error}"
    if req.state is R:
        who = "Withdrawn by" if req.decided_by == req.requester else "Rejected by"
        return f"{who} <@{req.decided_by}> at {when(req.decided_at)}; nothing was deleted."
    return f"Expired at {when(req.decided_at)} without enough approvals; nothing was deleted."


def closed_message(req: ApprovalRequest) -> str:
    """The ephemeral answer to a click on a closed request."""
    return f"This request is already closed. {decision_text(req)}"


def request_payload(req: ApprovalRequest) -> dict[str, Any]:
    """The snapshot the request message is drawn from: Approve/Reject buttons (value: `request_id`) while
    `pending`, else `decision` in their place."""
    resources = [_resource(item) for item in req.details.get("resources") or []]
    lines = [f"Approval needed: delete {req.what} (request #{req.id})"]
    if resources:
        held = "everything in it" if req.action == TEARDOWN_RG else "with it"
        lines.append(f"This also deletes, {held}: " + ", ".join(resources))
    if req.details.get("keep_dependents"):
        lines.append("Its dependent resources are kept.")
    lines.append(f"Asked by <@{req.requester}>" + (f": {req.reason}" if req.reason else " (no reason given)"))
    if req.is_pending:
        lines.append(f"Expires {when(req.expires_at)}. Needs {counted(req.needed, 'approval')} from someone else.")
    lines.append(decision_text(req))
    return {
        "request_id": req.id,
        "action": req.action,
        "target": req.target,
        "what": req.what,
        "details": dict(req.details),
        "resources": resources,
        "requester": req.requester,
        "reason": req.reason,
        "needed": req.needed,
        "state": req.state.value,
        "pending": req.is_pending,
        "created_at": req.created_at,
        "expires_at": req.expires_at,
        "approvals": [{"user": v.user, "at": v.at} for v in req.votes if v.approve],
        "decided_by": req.decided_by,
        "decided_at": req.decided_at,
        "decision": None if req.is_pending else decision_text(req),
        "result": req.result,
        "error": req.error,
        "text": "\n".join(lines),
    }


def audit_details(req: ApprovalRequest) -> dict[str, Any]:
    """What the audit log records about a request."""
    return {
        "request_id": req.id,
        "action": req.action,
        "target": req.target,
        "state": req.state.value,
        "requester": req.requester,
        "reason": req.reason,
        "approvers": list(req.approvers),
    }
