"""SlackDriver: signed slash commands and block_actions clicks, checked at a recording bot endpoint."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.devslack import LocalSlack, SlackDriver
from bot.devslack.recorder import RecordingEndpoint


def form_of(body: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def test_slash_is_signed_and_complete(
    driver: SlackDriver, recording_bot: RecordingEndpoint, local_slack: LocalSlack, client: WebClient
) -> None:
    recording_bot.reply = b'{"response_type": "ephemeral", "text": "on it"}'
    response = driver.slash("status train-1", user="bob")
    assert response.status == 200 and response.json() == {"response_type": "ephemeral", "text": "on it"}
    assert 0 < response.elapsed < 3 and response.acked_in_time

    (request,) = recording_bot.requests
    assert request.path == "/slack/events"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(driver.signing_secret).is_valid_request(request.body, request.headers)
    assert not SignatureVerifier("another-secret").is_valid_request(request.body, request.headers)
    form = form_of(request.body)
    assert {k: form[k] for k in ("team_id", "channel_id", "channel_name", "user_id", "user_name")} == {
        "team_id": "T0LOCAL",
        "channel_id": "C_ML",
        "channel_name": "ml-team",
        "user_id": "U_BOB",
        "user_name": "bob",
    }
    assert (form["command"], form["text"], form["is_enterprise_install"]) == (
        "/aml",
        "status train-1",
        "false",
    )
    assert form["api_app_id"] == "A_AMLBOT" and form["token"] and form["team_domain"] == "local-ml"
    assert form["response_url"] == response.response_url and form["response_url"].startswith(
        local_slack.base_url
    )
    # The trigger id is live: the bot can open a modal with it.
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}
    assert client.views_open(trigger_id=form["trigger_id"], view=modal)["ok"]


def test_retries_reuse_ids_and_add_headers(driver: SlackDriver, recording_bot: RecordingEndpoint) -> None:
    first = driver.slash("deploy")
    retry = driver.slash("deploy", retry_num=1, trigger_id=first.trigger_id, response_url=first.response_url)
    again = driver.resend(first, retry_num=2, retry_reason="http_error")
    sent = recording_bot.requests
    assert "X-Slack-Retry-Num" not in sent[0].headers
    assert (sent[1].headers["X-Slack-Retry-Num"], sent[1].headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    assert (sent[2].headers["X-Slack-Retry-Num"], sent[2].headers["X-Slack-Retry-Reason"]) == (
        "2",
        "http_error",
    )
    assert form_of(sent[1].body)["trigger_id"] == first.trigger_id == retry.trigger_id
    assert form_of(sent[1].body)["response_url"] == first.response_url
    assert sent[2].body == sent[0].body and again.response_url == first.response_url
    assert all(SignatureVerifier(driver.signing_secret).is_valid_request(r.body, r.headers) for r in sent)


def test_stale_bad_and_missing_signatures(driver: SlackDriver, recording_bot: RecordingEndpoint) -> None:
    driver.slash("x", timestamp=int(time.time()) - 600)
    driver.slash("x", signature="v0=" + "0" * 64)
    driver.slash("x", sign=False)
    stale, forged, unsigned = recording_bot.requests
    verifier = SignatureVerifier(driver.signing_secret)
    # The stale one is correctly signed, so only its age makes it invalid.
    assert not verifier.is_valid_request(stale.body, stale.headers)
    assert SignatureVerifier(driver.signing_secret, clock=_At(time.time() - 600)).is_valid_request(
        stale.body, stale.headers
    )
    assert not verifier.is_valid_request(forged.body, forged.headers)
    assert "X-Slack-Signature" not in unsigned.headers and "X-Slack-Request-Timestamp" not in unsigned.headers


class _At(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def payload_of(recording_bot: RecordingEndpoint, index: int = -1) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(form_of(recording_bot.requests[index].body)["payload"])
    return payload


def test_click_on_a_channel_message(
    driver: SlackDriver,
    recording_bot: RecordingEndpoint,
    local_slack: LocalSlack,
    client: WebClient,
    approval_blocks: list[dict[str, Any]],
) -> None:
    posted = client.chat_postMessage(channel="C_ML", text="Delete?", blocks=approval_blocks)
    client.chat_postMessage(channel="C_ML", text="no buttons here")
    message = local_slack.workspace.message("C_ML", posted["ts"])
    assert message is not None
    assert [(b.index, b.text) for b in driver.buttons(message)] == [
        (1, "Details"),
        (2, "Approve"),
        (3, "Reject"),
    ]
    response = driver.click(user="U_ALICE", channel="C_ML", action_index=2)
    request = recording_bot.requests[-1]
    assert SignatureVerifier(driver.signing_secret).is_valid_request(request.body, request.headers)
    payload = payload_of(recording_bot)
    assert payload["type"] == "block_actions" and payload["api_app_id"] == "A_AMLBOT" and payload["token"]
    assert payload["user"] == {"id": "U_ALICE", "username": "alice", "name": "alice", "team_id": "T0LOCAL"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C_ML",
        "is_ephemeral": False,
    }
    assert payload["team"] == {"id": "T0LOCAL", "domain": "local-ml"}
    assert payload["channel"] == {"id": "C_ML", "name": "ml-team"}
    assert (
        payload["message"]["ts"] == posted["ts"] and payload["message"]["blocks"][3]["block_id"] == "decision"
    )
    assert payload["trigger_id"] == response.trigger_id and payload["response_url"] == response.response_url
    (action,) = payload["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type", "style")} == {
        "action_id": "approve",
        "block_id": "decision",
        "value": "req-1",
        "type": "button",
        "style": "primary",
    }
    assert action["text"]["text"] == "Approve" and float(action["action_ts"]) > 0

    # The response_url of a click replaces the clicked message.
    assert response.response_url
    WebhookClient(response.response_url).send(text="Approved", replace_original=True)
    replaced = local_slack.workspace.message("C_ML", posted["ts"])
    assert replaced is not None and replaced.text == "Approved" and replaced.blocks == []


def test_click_on_an_ephemeral_and_selection(
    driver: SlackDriver,
    recording_bot: RecordingEndpoint,
    local_slack: LocalSlack,
    client: WebClient,
    approval_blocks: list[dict[str, Any]],
) -> None:
    public = client.chat_postMessage(channel="C_ML", text="public", blocks=approval_blocks)
    eph_ts = client.chat_postEphemeral(channel="C_ML", user="U_BOB", text="private", blocks=approval_blocks)[
        "message_ts"
    ]
    assert local_slack.workspace.latest_with_buttons("C_ML", "U_ALICE").ts == public["ts"]  # type: ignore[union-attr]
    driver.click(user="U_BOB", channel="C_ML", action_id="reject")
    payload = payload_of(recording_bot)
    assert payload["container"]["is_ephemeral"] is True and payload["container"]["message_ts"] == eph_ts
    assert "message" not in payload and payload["actions"][0]["action_id"] == "reject"

    driver.click(user="U_BOB", channel="ml-team", message_ts=public["ts"], value="d")
    assert payload_of(recording_bot)["actions"][0]["text"]["text"] == "Details"
    with pytest.raises(LookupError, match="several buttons"):
        driver.click(user="U_BOB", channel="C_ML", value="req-1")
    with pytest.raises(LookupError, match="does not exist"):
        driver.click(user="U_BOB", channel="C_ML", action_index=9)
    with pytest.raises(LookupError, match="no message"):
        driver.click(user="U_CAROL", channel="C_GENERAL", action_index=1)


def test_click_in_a_thread_reports_thread_ts(
    driver: SlackDriver,
    recording_bot: RecordingEndpoint,
    client: WebClient,
    approval_blocks: list[dict[str, Any]],
) -> None:
    parent = client.chat_postMessage(channel="C_ML", text="job")
    client.chat_postMessage(channel="C_ML", text="approve?", thread_ts=parent["ts"], blocks=approval_blocks)
    driver.click(user="U_ALICE", channel="C_ML", action_index=3)
    assert payload_of(recording_bot)["container"]["thread_ts"] == parent["ts"]


def test_twenty_threads_of_slash_commands(driver: SlackDriver, recording_bot: RecordingEndpoint) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda i: driver.slash(f"status job-{i}"), range(20)))
    assert all(r.status == 200 for r in responses)
    assert len({r.trigger_id for r in responses}) == 20
    assert sorted(form_of(r.body)["text"] for r in recording_bot.requests) == sorted(
        f"status job-{i}" for i in range(20)
    )
