"""The approval request as Slack draws it: buttons while pending, the decision after, limits kept."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.blocks.renderer import BlockKitRenderer
from bot.devslack.blocks import buttons, parse_blocks
from services.approvals import (
    KIND_PROGRESS,
    KIND_REQUEST,
    KIND_STATUS,
    ApprovalRequest,
    ApprovalState,
    Vote,
    request_payload,
)
from services.chat import RenderedMessage
from services.outbox import jsonable

CREATED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
EXPIRES = CREATED + timedelta(hours=24)


def make_request(**changes: Any) -> ApprovalRequest:
    base = ApprovalRequest(
        id=42,
        action="teardown.workspace",
        target="ws1",
        details={"resources": [{"type": "storage account", "name": "stws1"}, {"type": "key vault", "name": "kv1"}]},
        requester="U_ALICE",
        channel="C_ML",
        reason="project is over",
        needed=1,
        state=ApprovalState.PENDING,
        version=0,
        created_at=CREATED,
        expires_at=EXPIRES,
        decided_at=None,
        decided_by=None,
        exec_token=None,
        exec_started_at=None,
        lease_until=None,
        finished_at=None,
        result=None,
        error=None,
    )
    return replace(base, **changes)


def render(req: ApprovalRequest, kind: str = KIND_REQUEST) -> RenderedMessage:
    """Render the payload as the outbox stores it (JSON, datetimes as ISO strings)."""
    payload = json.loads(json.dumps(jsonable(request_payload(req))))
    return BlockKitRenderer().render(kind, payload)


def shown(message: RenderedMessage) -> str:
    return json.dumps(list(message.blocks), ensure_ascii=False)


def approved_by_bob(state: ApprovalState, **changes: Any) -> ApprovalRequest:
    vote = Vote("U_BOB", True, "approver", "C_ML", CREATED + timedelta(minutes=5))
    return make_request(
        state=state, votes=(vote,), decided_by="U_BOB", decided_at=CREATED + timedelta(minutes=5), **changes
    )


def test_a_pending_request_has_approve_and_reject_buttons_carrying_its_id() -> None:
    message = render(make_request())
    found = buttons({"blocks": list(message.blocks)})
    assert [(b.text, b.action_id, b.value, b.style) for b in found] == [
        ("Approve", "approval.approve", "42", "primary"),
        ("Reject", "approval.reject", "42", "danger"),
    ]
    confirm = found[0].element["confirm"]
    assert "ws1" in confirm["text"]["text"] and "cannot be undone" in confirm["text"]["text"]
    assert "confirm" not in found[1].element, "rejecting deletes nothing, so it needs no second thought"
    parse_blocks(list(message.blocks))  # Slack would accept it


def test_a_pending_request_says_what_goes_who_asked_why_and_until_when() -> None:
    text = shown(render(make_request()))
    assert "workspace `ws1`" in text and "request #42" in text
    assert "storage account `stws1`" in text and "key vault `kv1`" in text
    assert "<@U_ALICE>" in text and "project is over" in text
    stamp = int(EXPIRES.timestamp())
    assert f"<!date^{stamp}^" in text and "2026-03-03 09:30 UTC" in text, "a date token with its fallback"
    assert "1 approval from someone other than the requester" in text


def test_a_resource_group_lists_everything_in_it() -> None:
    req = make_request(action="teardown.rg", target="rg-ml", details={"resources": ["ws1", "stws1"]})
    text = shown(render(req))
    assert "Everything in it (2)" in text and "• ws1" in text and "• stws1" in text


def test_kept_dependents_are_said_to_be_kept() -> None:
    req = make_request(details={"keep_dependents": True})
    assert "dependent resources are kept" in shown(render(req))


def test_approvals_so_far_are_shown_while_more_are_needed() -> None:
    vote = Vote("U_BOB", True, "approver", "C_ML", CREATED)
    message = render(make_request(needed=2, votes=(vote,)))
    assert "Approved so far by <@U_BOB> (1 of 2); waiting for 1 more approval." in shown(message)
    assert len(buttons({"blocks": list(message.blocks)})) == 2


@pytest.mark.parametrize(
    ("req", "decision"),
    [
        (approved_by_bob(ApprovalState.DONE, finished_at=CREATED + timedelta(minutes=6)), "Approved by <@U_BOB>"),
        (approved_by_bob(ApprovalState.EXECUTING), "Approved by <@U_BOB>"),
        (
            make_request(state=ApprovalState.REJECTED, decided_by="U_BOB", decided_at=CREATED),
            "Rejected by <@U_BOB>",
        ),
        (make_request(state=ApprovalState.EXPIRED, decided_at=EXPIRES), "Expired at 2026-03-03 09:30 UTC"),
    ],
    ids=["done", "executing", "rejected", "expired"],
)
def test_a_closed_request_shows_the_decision_instead_of_buttons(req: ApprovalRequest, decision: str) -> None:
    message = render(req, KIND_STATUS)
    assert buttons({"blocks": list(message.blocks)}) == []
    context = [b for b in message.blocks if b["type"] == "context"]
    assert context and decision in json.dumps(context[-1])
    assert decision in message.text
    parse_blocks(list(message.blocks))


def test_a_failure_keeps_mentions_but_cannot_break_the_markup() -> None:
    req = approved_by_bob(ApprovalState.FAILED, error="Azure said <not found> & gave up")
    text = shown(render(req, KIND_STATUS))
    assert "&lt;not found&gt; &amp; gave up" in text and "<@U_BOB>" in text


def test_a_long_resource_list_is_cut_inside_block_kit_limits() -> None:
    names = [f"storage-account-{i:04d}-" + "x" * 60 for i in range(500)]
    req = make_request(action="teardown.rg", target="rg-big", details={"resources": names})
    message = render(req)
    parse_blocks(list(message.blocks))  # at most 50 blocks, each section at most 3,000 characters
    assert all(len(b["text"]["text"]) <= 3000 for b in message.blocks if b["type"] == "section")
    text = shown(message)
    listed = len(re.findall(r"• storage-account-", text))
    more = re.search(r"…and (\d+) more", text)
    assert more is not None and 0 < listed < 500
    assert listed + int(more.group(1)) == 500, "every resource is either listed or counted"
    assert "Everything in it (500)" in text
    assert len(buttons({"blocks": list(message.blocks)})) == 2, "the buttons survive the cut"


def test_the_notification_text_reads_on_its_own() -> None:
    pending = render(make_request())
    assert pending.text == (
        "Approval needed: delete workspace `ws1` (request #42), asked by <@U_ALICE>. Approve or reject it here."
    )
    done = render(approved_by_bob(ApprovalState.DONE, finished_at=CREATED), KIND_STATUS)
    assert done.text.startswith("Deleted workspace ws1 (request #42): Approved by <@U_BOB>")


def test_the_header_says_where_the_request_stands() -> None:
    header = render(make_request()).blocks[0]
    assert header["type"] == "header" and header["text"]["text"] == "Approval needed: delete workspace ws1"
    rejected = render(make_request(state=ApprovalState.REJECTED, decided_by="U_BOB", decided_at=CREATED))
    assert rejected.blocks[0]["text"]["text"] == "Rejected: workspace ws1 stays"


def test_progress_in_the_thread_is_plain_words() -> None:
    text = "Deleting workspace `ws1` failed: <boom>"
    payload = {"request_id": 42, "stage": "failed", "state": "failed", "text": text}
    message = BlockKitRenderer().render(KIND_PROGRESS, payload)
    assert message.text == "Deleting workspace `ws1` failed: &lt;boom&gt;"
    assert message.blocks[0]["text"]["text"].startswith(":x: Deleting workspace `ws1` failed")
