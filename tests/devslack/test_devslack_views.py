"""SlackDriver's events and views, checked at a recording bot endpoint: a signed app_home_opened envelope,
clicks and choices from views without a channel, submissions whose ack closes or keeps the modal; and the text
rendering of a view."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.devslack import LocalSlack, SlackDriver, View, render_view
from bot.devslack.recorder import RecordingEndpoint

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "form",
    "title": {"type": "plain_text", "text": "Submit a job"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "template",
            "dispatch_action": True,
            "label": {"type": "plain_text", "text": "Template"},
            "element": {
                "type": "static_select",
                "action_id": "pick",
                "placeholder": {"type": "plain_text", "text": "Choose a template"},
                "options": [
                    {"text": {"type": "plain_text", "text": "hello — Hello"}, "value": "hello"},
                    {"text": {"type": "plain_text", "text": "train-tiny — Train"}, "value": "train-tiny"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "epochs",
            "label": {"type": "plain_text", "text": "epochs"},
            "hint": {"type": "plain_text", "text": "integer · default 10"},
            "element": {"type": "plain_text_input", "action_id": "value", "initial_value": "10"},
        },
    ],
}
HOME: dict[str, Any] = {
    "type": "home",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Waiting for <@U_BOB>"}},
        {
            "type": "actions",
            "block_id": "approval-7",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": "a", "value": "7"},
                {"type": "button", "text": {"type": "plain_text", "text": "Reject"}, "action_id": "r", "value": "7"},
            ],
        },
    ],
}


def payload_of(body: str) -> dict[str, Any]:
    return json.loads(parse_qs(body)["payload"][0])


@pytest.fixture
def modal(local_slack: LocalSlack, client: WebClient) -> View:
    trigger = local_slack.new_trigger_id("U_ALICE")
    opened = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    found = local_slack.workspace.views.get(opened["id"])
    assert found is not None
    return found


def test_open_home_sends_a_signed_app_home_opened_event(
    driver: SlackDriver, recording_bot: RecordingEndpoint, signing_secret: str
) -> None:
    response = driver.open_home("bob")
    assert response.status == 200
    (request,) = recording_bot.requests
    assert request.headers["Content-Type"] == "application/json"
    assert SignatureVerifier(signing_secret).is_valid_request(request.body, request.headers)
    envelope = json.loads(request.body)
    assert envelope["type"] == "event_callback" and envelope["team_id"] == "T0LOCAL"
    assert envelope["event"]["type"] == "app_home_opened"
    assert (envelope["event"]["user"], envelope["event"]["tab"]) == ("U_BOB", "home")


def test_a_click_on_a_home_comes_from_the_view_without_channel_or_response_url(
    driver: SlackDriver, recording_bot: RecordingEndpoint, client: WebClient, local_slack: LocalSlack
) -> None:
    client.views_publish(user_id="U_BOB", view=HOME)
    driver.click_in_view("bob", action_id="a")
    payload = payload_of(recording_bot.requests[-1].body)
    home = local_slack.workspace.views.home("U_BOB")
    assert home is not None
    assert payload["container"] == {"type": "view", "view_id": home.id}
    assert payload["view"]["type"] == "home" and "channel" not in payload and "response_url" not in payload
    assert payload["actions"][0]["action_id"] == "a" and payload["actions"][0]["value"] == "7"


def test_choosing_in_a_modal_reports_the_option_and_the_typed_state(
    driver: SlackDriver, recording_bot: RecordingEndpoint, modal: View
) -> None:
    driver.choose_in_view("alice", "train-tiny", block_id="template", values={"epochs": "3"})
    payload = payload_of(recording_bot.requests[-1].body)
    assert payload["type"] == "block_actions" and payload["view"]["id"] == modal.id
    assert payload["actions"][0]["selected_option"]["value"] == "train-tiny"
    state = payload["view"]["state"]["values"]
    assert state["template"]["pick"]["selected_option"]["value"] == "train-tiny"
    assert state["epochs"]["value"] == {"type": "plain_text_input", "value": "3"}


def test_a_submission_keeps_the_modal_on_errors_and_closes_it_on_an_empty_ack(
    driver: SlackDriver, recording_bot: RecordingEndpoint, modal: View
) -> None:
    recording_bot.reply = b'{"response_action": "errors", "errors": {"epochs": "must be an integer"}}'
    driver.submit_view("alice", values={"template": "hello", "epochs": "three"})
    payload = payload_of(recording_bot.requests[-1].body)
    assert payload["type"] == "view_submission"
    assert payload["view"]["state"]["values"]["epochs"]["value"]["value"] == "three"
    assert driver.modal("alice") is not None, "errors keep the form open"

    recording_bot.reply = b""
    driver.submit_view("alice", values={"template": "hello"})
    assert driver.modal("alice") is None, "an empty ack closes it"


def test_render_view_shows_inputs_options_buttons_and_errors(
    local_slack: LocalSlack, client: WebClient, modal: View
) -> None:
    shown = render_view(local_slack.workspace, modal, errors={"epochs": "must be an integer"})
    assert shown.splitlines() == [
        "┏ Submit a job (modal)",
        "┃ Template: [▾ Choose a template]",
        "┃     options: hello — Hello · train-tiny — Train",
        "┃ epochs: [10]",
        "┃     integer · default 10",
        "┃     ⚠ must be an integer",
        "┗ [Cancel] [Submit]",
    ]
    client.views_publish(user_id="U_BOB", view=HOME)
    home = local_slack.workspace.views.home("U_BOB")
    assert home is not None
    assert render_view(local_slack.workspace, home).splitlines() == [
        "┏ App Home of @bob",
        "┃ Waiting for @bob",
        "┃ [1 Approve] [2 Reject]",
        "┗",
    ]
