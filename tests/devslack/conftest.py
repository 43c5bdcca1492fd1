"""Fixtures for the local Slack workspace tests: a running server, a client, a recording bot endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.devslack import LocalSlack, SlackDriver
from bot.devslack.recorder import RecordingEndpoint


@pytest.fixture
def signing_secret() -> str:
    return "local-signing-secret"


@pytest.fixture
def local_slack() -> Iterator[LocalSlack]:
    with LocalSlack() as server:
        yield server


@pytest.fixture
def client(local_slack: LocalSlack) -> WebClient:
    return WebClient(token=local_slack.bot_token, base_url=local_slack.api_url, timeout=5)


@pytest.fixture
def recording_bot() -> Iterator[RecordingEndpoint]:
    with RecordingEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def driver(recording_bot: RecordingEndpoint, local_slack: LocalSlack, signing_secret: str) -> SlackDriver:
    return SlackDriver(recording_bot.url, signing_secret, local_slack)


@pytest.fixture
def approval_blocks() -> list[dict[str, Any]]:
    """A message with a section accessory button and two buttons in an actions block."""
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Delete workspace?"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Requested by <@U_BOB>"},
            "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Details"}, "value": "d"},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "needs <!subteam^S_MLOPS>"}]},
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": "req-1",
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": "req-1",
                },
            ],
        },
    ]
