"""Posting to response URLs: ephemeral or in channel, replacing or deleting the original, use limits."""

from __future__ import annotations

import json
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.devslack import LocalSlack


def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def test_ephemeral_by_default_and_in_channel(local_slack: LocalSlack) -> None:
    url = local_slack.new_response_url("C_ML", "U_BOB")
    assert post(url, {"text": "only for bob"}) == (200, {"ok": True})
    (ephemeral,) = local_slack.workspace.ephemerals("C_ML", "U_BOB")
    assert (ephemeral.text, ephemeral.source) == ("only for bob", "response_url")

    assert WebhookClient(url).send(text="for everyone", response_type="in_channel").status_code == 200
    (message,) = local_slack.workspace.messages("C_ML")
    assert (message.text, message.user) == ("for everyone", "U_AMLBOT")

    post(url, {"text": "in the thread", "response_type": "in_channel", "thread_ts": message.ts})
    assert [r.text for r in local_slack.workspace.replies("C_ML", message.ts)] == ["in the thread"]
    assert [c.method for c in local_slack.workspace.api_calls] == ["response_url"] * 3


def test_replace_and_delete_original(local_slack: LocalSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C_ML", text="Approve?")
    url = local_slack.new_response_url("C_ML", "U_ALICE", message_ts=posted["ts"])
    post(url, {"replace_original": True, "text": "Approved by alice"})
    message = local_slack.workspace.message("C_ML", posted["ts"])
    assert message is not None and message.text == "Approved by alice" and message.revision == 1
    post(url, {"delete_original": True})
    assert local_slack.workspace.messages("C_ML") == []

    eph_ts = client.chat_postEphemeral(channel="C_ML", user="U_BOB", text="choose")["message_ts"]
    eph_url = local_slack.new_response_url("C_ML", "U_BOB", message_ts=eph_ts, is_ephemeral=True)
    post(eph_url, {"replace_original": True, "text": "chosen"})
    assert [e.text for e in local_slack.workspace.ephemerals("C_ML", "U_BOB")] == ["chosen"]
    post(eph_url, {"delete_original": True})
    assert local_slack.workspace.ephemerals("C_ML") == []


def test_five_uses_then_used_url(local_slack: LocalSlack) -> None:
    url = local_slack.new_response_url("C_ML", "U_BOB")
    assert [post(url, {"text": f"#{i}"})[0] for i in range(5)] == [200] * 5
    assert post(url, {"text": "sixth"}) == (404, {"ok": False, "error": "used_url"})
    assert len(local_slack.workspace.ephemerals("C_ML")) == 5


def test_unknown_url_and_empty_payload(local_slack: LocalSlack) -> None:
    assert post(f"{local_slack.base_url}response/nope", {"text": "x"}) == (
        404,
        {"ok": False, "error": "expired_url"},
    )
    url = local_slack.new_response_url("C_ML", "U_BOB")
    assert post(url, {"response_type": "in_channel"}) == (400, {"ok": False, "error": "no_text"})
    assert [post(url, {"text": "counts"})[0] for _ in range(5)] == [200] * 5  # the refused one was not a use
