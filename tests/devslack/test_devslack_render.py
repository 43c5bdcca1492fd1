"""Terminal rendering of a channel and of what changed since the last look."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk import WebClient

from bot.devslack import LocalSlack, SlackDriver, render_channel, render_new

TIME = r"\[\d\d:\d\d:\d\d\]"


def test_conversation_with_threads_edits_ephemerals_files_and_buttons(
    local_slack: LocalSlack, client: WebClient, approval_blocks: list[dict[str, Any]]
) -> None:
    ws = local_slack.workspace
    ws.post_user_message("ml-team", "alice", "please delete <#C_ML> ws, cc <@U_BOB>")
    parent = client.chat_postMessage(channel="C_ML", text="fallback", blocks=approval_blocks)
    client.chat_postMessage(
        channel="C_ML", text="waiting for <!subteam^S_MLOPS|@mlops>", thread_ts=parent["ts"]
    )
    ws.post_user_message("C_ML", "bob", "looking", thread_ts=parent["ts"])
    status = client.chat_postMessage(channel="C_ML", text="Job queued")
    client.chat_update(channel="C_ML", ts=status["ts"], text="Job *running*")
    client.chat_postEphemeral(channel="C_ML", user="U_BOB", text="you are an approver")
    client.files_upload_v2(channel="C_ML", thread_ts=status["ts"], content=b"x", filename="metrics.csv")

    as_bob = render_channel(ws, "C_ML", viewer="U_BOB").splitlines()
    expected = [
        rf"{TIME} @alice: please delete #ml-team ws, cc @bob",
        rf"{TIME} @aml-bot: # Delete workspace\?",
        r"    Requested by @bob",
        r"    \[1 Details\]",
        r"    needs @mlops",
        r"    \[2 Approve\] \[3 Reject\]",
        rf"    ↳ {TIME} @aml-bot: waiting for @mlops",
        rf"    ↳ {TIME} @bob: looking",
        rf"{TIME} @aml-bot: Job \*running\* \(edited\)",
        rf"    ↳ {TIME} @aml-bot:",
        r"          📎 metrics.csv",
        rf"{TIME} @aml-bot: you are an approver \(only visible to you\)",
    ]
    assert len(as_bob) == len(expected), "\n".join(as_bob)
    for line, pattern in zip(as_bob, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)

    as_carol = render_channel(ws, "C_ML", viewer="U_CAROL")
    assert "approver" not in as_carol
    assert "you are an approver (only visible to @bob)" in render_channel(ws, "C_ML")


def test_numbering_matches_the_driver(
    local_slack: LocalSlack, client: WebClient, approval_blocks: list[dict[str, Any]]
) -> None:
    posted = client.chat_postMessage(channel="C_ML", text="x", blocks=approval_blocks)
    message = local_slack.workspace.latest_with_buttons("C_ML", "U_ALICE")
    assert message is not None and message.ts == posted["ts"]
    shown = render_channel(local_slack.workspace, "C_ML")
    for button in SlackDriver.buttons(message):
        assert f"[{button.index} {button.text}]" in shown


def test_render_new_shows_only_changes(local_slack: LocalSlack, client: WebClient) -> None:
    ws = local_slack.workspace
    first = client.chat_postMessage(channel="C_ML", text="one")
    text, marker = render_new(ws, "C_ML")
    assert text.endswith("@aml-bot: one")
    assert render_new(ws, "C_ML", marker)[0] == ""

    client.chat_postMessage(channel="C_ML", text="two", thread_ts=first["ts"])
    client.chat_update(channel="C_ML", ts=first["ts"], text="one!")
    text, marker = render_new(ws, "C_ML", marker)
    lines = text.splitlines()
    assert lines[0].endswith("@aml-bot: one! (edited)") and lines[1].startswith("    ↳ ")
    assert lines[1].endswith("@aml-bot: two") and len(lines) == 2

    client.chat_delete(channel="C_ML", ts=first["ts"])
    text, marker = render_new(ws, "C_ML", marker)
    assert text.endswith("@aml-bot: (message deleted)")
    # A deleted parent with live replies stays as a tombstone in the full rendering.
    assert "(message deleted)" in render_channel(ws, "C_ML")
