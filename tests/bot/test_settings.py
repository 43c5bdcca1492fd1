"""Settings: read from AMLBOT_* variables, frozen, and every problem named at once."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from bot.settings import SettingsError, load_settings

REQUIRED = {"AMLBOT_SLACK_BOT_TOKEN": "xoxb-1", "AMLBOT_SLACK_SIGNING_SECRET": "secret"}


def test_every_problem_is_named_in_one_message() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"AMLBOT_PORT": "eighty", "AMLBOT_SLACK_API_URL": "ftp://slack"})
    message = str(caught.value)
    assert "4 settings missing or invalid" in message
    for name in ("AMLBOT_SLACK_BOT_TOKEN", "AMLBOT_SLACK_SIGNING_SECRET", "AMLBOT_PORT", "AMLBOT_SLACK_API_URL"):
        assert name in message


def test_settings_are_frozen_and_secrets_hidden() -> None:
    settings = load_settings(REQUIRED)
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]
    assert "xoxb-1" not in repr(settings)
    assert settings.slack_api_url == "https://slack.com/api/"


def test_backend_is_local_until_a_subscription_is_configured() -> None:
    assert not load_settings(REQUIRED).uses_azure
    assert load_settings({**REQUIRED, "AMLBOT_AZURE_SUBSCRIPTION_ID": "sub"}).uses_azure


def test_env_example_lists_every_setting() -> None:
    from pathlib import Path

    from bot.settings import PREFIX, Settings

    example = (Path(__file__).parents[2] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{PREFIX}{name.upper()}=" in example, f"{name} missing from .env.example"


def test_the_server_refuses_to_start_with_a_clear_message() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "AMLBOT_SLACK_BOT_TOKEN: missing" in result.stderr
    assert "Traceback" not in result.stderr
