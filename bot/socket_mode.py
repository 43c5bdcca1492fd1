"""Socket Mode: the same app over a WebSocket, for deployments without a public URL."""

from __future__ import annotations

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import AmlBot
from bot.settings import SettingsError


def serve_socket_mode(bot: AmlBot) -> None:
    """Connect to Slack with the app-level token and serve until interrupted."""
    token = bot.settings.slack_app_token
    if token is None:
        raise SettingsError(
            "Socket Mode needs AMLBOT_SLACK_APP_TOKEN (an app-level token, xapp-…, with connections:write)."
        )
    bot.start()
    try:
        SocketModeHandler(bot.app, token.get_secret_value()).start()
    finally:
        bot.close()
