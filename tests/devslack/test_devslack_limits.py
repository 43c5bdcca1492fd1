"""Pacing of chat.postMessage and injected faults, seen through slack_sdk and its retry handlers."""

from __future__ import annotations

import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.devslack import LocalSlack


def test_burst_is_rate_limited_per_channel(local_slack: LocalSlack, client: WebClient) -> None:
    local_slack.enforce_pace = True
    client.chat_postMessage(channel="C_ML", text="1")
    client.chat_postMessage(channel="C_ML", text="2")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C_ML", text="3")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    client.chat_postMessage(channel="C_GENERAL", text="other channels have their own budget")
    assert [c.status for c in local_slack.workspace.calls("chat.postMessage")] == [200, 200, 429, 200]


def test_rate_limit_retry_handler_recovers(
    local_slack: LocalSlack, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler sleeps Retry-After plus up to a second of jitter; drop the jitter to keep the test short.
    monkeypatch.setattr("slack_sdk.http_retry.builtin_handlers.random.random", lambda: 0.0)
    local_slack.enforce_pace = True
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    texts = ["1", "2", "3"]
    for text in texts:
        client.chat_postMessage(channel="C_ML", text=text)
    assert [m.text for m in local_slack.workspace.messages("C_ML")] == texts
    assert [c.status for c in local_slack.workspace.calls("chat.postMessage")] == [200, 200, 429, 200]


def test_injected_429_with_retry_after(local_slack: LocalSlack, client: WebClient) -> None:
    local_slack.inject_fault("chat.update", retry_after=7)
    posted = client.chat_postMessage(channel="C_ML", text="x")
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel="C_ML", ts=posted["ts"], text="y")
    assert caught.value.response.status_code == 429 and caught.value.response.headers["Retry-After"] == "7"
    client.chat_update(channel="C_ML", ts=posted["ts"], text="y")  # the fault was used up


def test_500_once_then_ok(local_slack: LocalSlack, client: WebClient) -> None:
    local_slack.inject_fault("chat.postMessage", status=500)
    client.retry_handlers.append(
        ServerErrorRetryHandler(
            max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
        )
    )
    assert client.chat_postMessage(channel="C_ML", text="eventually")["ok"]
    assert [c.status for c in local_slack.workspace.calls("chat.postMessage")] == [500, 200]


def test_error_delay_forever_and_clear(local_slack: LocalSlack, client: WebClient) -> None:
    local_slack.inject_fault("users.info", error="user_not_visible", times=-1)
    for _ in range(3):
        with pytest.raises(SlackApiError) as caught:
            client.users_info(user="U_BOB")
        assert caught.value.response["error"] == "user_not_visible"
    local_slack.clear_faults()
    assert client.users_info(user="U_BOB")["user"]["name"] == "bob"

    local_slack.inject_fault("auth.test", delay=0.2)
    started = time.perf_counter()
    assert client.auth_test()["ok"]
    assert time.perf_counter() - started >= 0.2
