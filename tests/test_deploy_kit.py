"""The deployment kit agrees with the code: Slack manifests, Procfile, and the deployment guide."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.__main__ import main
from bot.events import EVENTS_PATH
from bot.settings import PREFIX, Settings
from bot.wsgi import HEALTH_PATH, SLACK_PATH
from services.store import make_engine

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = {"http": REPO / "slack" / "manifest.http.yml", "socket": REPO / "slack" / "manifest.socket.yml"}
URL_KEYS = {"url", "request_url", "message_menu_options_url"}

# The bot scope each Slack Web API method the code calls needs (None: no scope). A new call fails the test
# below until it is added here and its scope to both manifests.
METHOD_SCOPES: dict[str, tuple[str, ...] | None] = {
    "chat_postMessage": ("chat:write",),
    "chat_update": ("chat:write",),
    "chat_postEphemeral": ("chat:write",),
    "chat_delete": ("chat:write",),
    "files_upload_v2": ("files:write",),
    "conversations_history": ("channels:history", "groups:history"),
    "conversations_replies": ("channels:history", "groups:history"),
    "conversations_open": ("im:write",),
    "usergroups_list": ("usergroups:read",),
    "usergroups_users_list": ("usergroups:read",),
    "users_info": ("users:read",),
    "users_lookupByEmail": ("users:read", "users:read.email"),
    "views_publish": None,
    "views_open": None,
    "views_update": None,
    "auth_test": None,
}
_API_CALL = re.compile(
    r"\.((?:chat|conversations|files|users|usergroups|views|reactions|pins|bookmarks|reminders|team|auth|im)_\w+)\("
)


def load(variant: str) -> dict[str, Any]:
    manifest = yaml.safe_load(MANIFESTS[variant].read_text())
    assert isinstance(manifest, dict)
    return manifest


def urls(node: object) -> list[str]:
    """Every URL value in a manifest, wherever it is."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k in URL_KEYS] + [u for v in node.values() for u in urls(v)]
    if isinstance(node, list):
        return [u for item in node for u in urls(item)]
    return []


def without_urls(node: object) -> object:
    if isinstance(node, dict):
        return {k: without_urls(v) for k, v in node.items() if k not in URL_KEYS and k != "socket_mode_enabled"}
    if isinstance(node, list):
        return [without_urls(item) for item in node]
    return node


@pytest.mark.parametrize("variant", sorted(MANIFESTS))
def test_manifest_registers_the_bots_command_home_tab_and_interactivity(variant: str) -> None:
    manifest = load(variant)
    features, settings = manifest["features"], manifest["settings"]

    [command] = features["slash_commands"]
    assert command["command"] == Settings.model_fields["slash_command"].default
    assert command["description"] and len(command["command"]) <= 32
    assert features["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]  # the Home tab is drawn on it
    assert settings["interactivity"]["is_enabled"] is True
    info = manifest["display_information"]
    assert len(info["name"]) <= 35 and len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000  # Slack refuses the manifest outside these
    assert re.fullmatch(r"[a-z0-9._-]{1,80}", features["bot_user"]["display_name"])


def test_http_manifest_sends_commands_clicks_and_events_to_the_bots_slack_path() -> None:
    manifest = load("http")
    settings = manifest["settings"]

    assert settings["socket_mode_enabled"] is False
    found = urls(manifest)
    assert len(found) == 3  # the command, interactivity, events
    assert {url.removesuffix(SLACK_PATH) for url in found} == {"https://aml-bot.example.com"}
    assert all(url.endswith(SLACK_PATH) for url in found)


def test_socket_manifest_has_no_urls_and_turns_socket_mode_on() -> None:
    manifest = load("socket")

    assert manifest["settings"]["socket_mode_enabled"] is True
    assert urls(manifest) == []


def test_both_manifests_describe_the_same_app_apart_from_how_slack_reaches_it() -> None:
    assert without_urls(load("http")) == without_urls(load("socket"))


def test_manifests_grant_the_scope_of_every_slack_call_the_code_makes() -> None:
    called: set[str] = set()
    for folder in ("bot", "commands", "services"):
        for path in (REPO / folder).rglob("*.py"):
            if "devslack" not in path.parts:
                called.update(_API_CALL.findall(path.read_text()))
    scopes = set(load("http")["oauth_config"]["scopes"]["bot"])

    unknown = sorted(called - set(METHOD_SCOPES))
    assert unknown == [], f"add these Slack methods to METHOD_SCOPES and their scopes to slack/*.yml: {unknown}"
    needed = {scope for method in called for scope in METHOD_SCOPES[method] or ()}
    assert needed <= scopes, f"missing from the manifests: {sorted(needed - scopes)}"
    assert {"commands", "chat:write"} <= scopes
    assert set(load("socket")["oauth_config"]["scopes"]["bot"]) == scopes


def test_http_manifest_documents_the_event_grid_and_health_endpoints() -> None:
    text = MANIFESTS["http"].read_text()

    assert f"{EVENTS_PATH}?code=" in text and HEALTH_PATH in text


def procfile() -> dict[str, list[str]]:
    lines = [line for line in (REPO / "Procfile").read_text().splitlines() if line.strip()]
    entries = dict(line.split(":", 1) for line in lines)
    return {name.strip(): command.split() for name, command in entries.items()}


def test_procfile_serves_the_web_migrates_on_release_and_offers_socket_mode() -> None:
    entries = procfile()

    assert entries["web"] == ["python", "-m", "bot", "serve", "--host", "0.0.0.0", "--port", "$PORT"]
    assert entries["release"] == ["python", "-m", "bot", "migrate"]
    assert entries["worker"] == ["python", "-m", "bot", "socket"]


@pytest.mark.parametrize("name", ["web", "release", "worker"])
def test_every_procfile_line_names_an_entrypoint_python_m_bot_has(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = procfile()[name]
    assert command[:3] == ["python", "-m", "bot"]

    with pytest.raises(SystemExit) as exited:
        main([command[3], "--help"])  # argparse: 0 for a real subcommand, 2 for an unknown one

    assert exited.value.code == 0, capsys.readouterr().err


def test_deployment_guide_names_every_setting_and_endpoint() -> None:
    guide = (REPO / "docs" / "deploy.md").read_text()
    example = (REPO / ".env.example").read_text()
    settings = {PREFIX + name.upper() for name in Settings.model_fields}

    assert sorted(name for name in settings if f"`{name}`" not in guide) == []
    assert set(re.findall(r"^(AMLBOT_\w+)=", example, re.M)) == settings  # .env.example: the same list
    for path in (SLACK_PATH, EVENTS_PATH, HEALTH_PATH, "python -m bot migrate"):
        assert path in guide
    slack_readme = (REPO / "slack" / "README.md").read_text()
    assert SLACK_PATH in slack_readme and f"{EVENTS_PATH}?code=" in slack_readme and HEALTH_PATH in slack_readme


def test_heroku_style_postgres_urls_use_the_installed_driver() -> None:
    for url in ("postgres://amlbot:pw@127.0.0.1:9/amlbot", "postgresql://amlbot:pw@127.0.0.1:9/amlbot"):
        engine = make_engine(url)
        try:
            assert engine.url.drivername == "postgresql+psycopg"
        finally:
            engine.dispose()
