"""SlackDriver: sends slash commands and button clicks to a bot's HTTP endpoint, signed like Slack."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from .blocks import Button, buttons, pick_button
from .models import JSON, Channel, Ephemeral, Message, User
from .view_driving import ViewDriving

if TYPE_CHECKING:
    from .server import LocalSlack

SLACK_ACK_DEADLINE = 3.0  # Slack gives up (and retries events) when a bot does not answer in 3 s
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class DriverResponse:
    """The bot's HTTP answer, plus what the driver sent."""

    status: int
    body: str
    headers: dict[str, str]
    elapsed: float
    request_body: str = ""
    trigger_id: str | None = None
    response_url: str | None = None
    payload: JSON = field(default_factory=dict)

    def json(self) -> Any | None:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def acked_in_time(self) -> bool:
        """A 2xx within Slack's 3-second deadline."""
        return 200 <= self.status < 300 and self.elapsed < SLACK_ACK_DEADLINE


def signature_for(signing_secret: str, timestamp: str, body: str) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, as in X-Slack-Signature."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def send_signed(
    bot_url: str,
    signing_secret: str,
    body: str,
    *,
    timeout: float = 10.0,
    timestamp: str | int | None = None,
    signature: str | None = None,
    sign: bool = True,
    headers: dict[str, str] | None = None,
) -> DriverResponse:
    """POST a form body to a bot with Slack's headers; usable without a LocalSlack (e.g. in a load process)."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    sent = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        **(headers or {}),
    }
    if sign:
        sent["X-Slack-Request-Timestamp"] = ts
        sent["X-Slack-Signature"] = signature or signature_for(signing_secret, ts, body)
    url = urlsplit(bot_url)
    target = url.path + (f"?{url.query}" if url.query else "") or "/"
    connection_type = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    # One connection per request: simple and safe when benchmarks call from many threads.
    connection = connection_type(url.netloc, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request("POST", target, body=body.encode(), headers=sent)
        response = connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        return DriverResponse(
            status=response.status,
            body=data.decode("utf-8", "replace"),
            headers={k: v for k, v in response.getheaders()},
            elapsed=elapsed,
            request_body=body,
        )
    finally:
        connection.close()


class SlackDriver(ViewDriving):
    """Plays Slack's side of interactivity against a bot URL such as ``http://127.0.0.1:PORT/slack/events``;
    events, Homes and modals are driven by the methods of ``ViewDriving``."""

    buttons = staticmethod(buttons)

    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        local_slack: LocalSlack,
        *,
        verification_token: str = "local-verification-token",
        timeout: float = 10.0,
    ) -> None:
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.local_slack = local_slack
        self.verification_token = verification_token
        self.timeout = timeout

    # -- raw sending ----------------------------------------------------------------------------

    def send(
        self,
        body: str,
        *,
        timestamp: str | int | None = None,
        signature: str | None = None,
        sign: bool = True,
        headers: dict[str, str] | None = None,
    ) -> DriverResponse:
        """POST a form body with Slack's headers; ``timestamp``/``signature`` override the real ones."""
        return send_signed(
            self.bot_url,
            self.signing_secret,
            body,
            timeout=self.timeout,
            timestamp=timestamp,
            signature=signature,
            sign=sign,
            headers=headers,
        )

    def _deliver(self, payload: JSON, *, as_json: bool = False) -> DriverResponse:
        """Send an interaction payload (form-encoded, as Slack does) or an Events API envelope (JSON)."""
        if as_json:
            response = self.send(json.dumps(payload), headers={"Content-Type": "application/json"})
        else:
            response = self.send(urlencode({"payload": json.dumps(payload)}))
        response.trigger_id, response.payload = payload.get("trigger_id"), payload
        return response

    def resend(
        self, previous: DriverResponse, *, retry_num: int = 1, retry_reason: str = "http_timeout"
    ) -> DriverResponse:
        """Send the same body again as a Slack retry (fresh signature, X-Slack-Retry-* headers)."""
        response = self.send(previous.request_body, headers=_retry_headers(retry_num, retry_reason))
        response.trigger_id, response.response_url, response.payload = (
            previous.trigger_id,
            previous.response_url,
            previous.payload,
        )
        return response

    # -- slash commands -------------------------------------------------------------------------

    def slash_form(
        self,
        text: str,
        *,
        user: str = "U_ALICE",
        channel: str = "C_ML",
        command: str = "/aml",
        trigger_id: str | None = None,
        response_url: str | None = None,
    ) -> dict[str, str]:
        """The form body Slack sends for a slash command (with a fresh trigger id and response_url)."""
        who, where = self._user(user), self._channel(channel)
        if trigger_id is None:
            trigger_id = self.local_slack.new_trigger_id(who.id)
        else:
            self.local_slack.register_trigger(trigger_id, who.id)
        response_url = response_url or self.local_slack.new_response_url(where.id, who.id)
        team = self.local_slack.workspace.team
        return {
            "token": self.verification_token,
            "team_id": team.id,
            "team_domain": team.domain,
            "channel_id": where.id,
            "channel_name": "directmessage" if where.is_im else where.name,
            "user_id": who.id,
            "user_name": who.name,
            "command": command,
            "text": text,
            "api_app_id": self.local_slack.workspace.bot.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }

    def slash(
        self,
        text: str,
        *,
        user: str = "U_ALICE",
        channel: str = "C_ML",
        command: str = "/aml",
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: str | int | None = None,
        signature: str | None = None,
        trigger_id: str | None = None,
        response_url: str | None = None,
        sign: bool = True,
    ) -> DriverResponse:
        """Invoke a slash command as ``user`` in ``channel`` (ids or names)."""
        who, where = self._user(user), self._channel(channel)
        form = self.slash_form(
            text, user=who.id, channel=where.id, command=command, trigger_id=trigger_id, response_url=response_url
        )
        trigger_id, response_url = form["trigger_id"], form["response_url"]
        headers = _retry_headers(retry_num, retry_reason) if retry_num is not None else None
        response = self.send(urlencode(form), timestamp=timestamp, signature=signature, sign=sign, headers=headers)
        response.trigger_id, response.response_url, response.payload = trigger_id, response_url, form
        self._show_ack(response, who, where, command, text)
        return response

    def _show_ack(self, response: DriverResponse, who: User, where: Channel, command: str, text: str) -> None:
        """Show a slash command's ack body as Slack does: ephemeral, or in the channel with the command."""
        body = response.json() if response.status == 200 else None
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return
        workspace = self.local_slack.workspace
        if body.get("response_type") == "in_channel":
            workspace.post_user_message(where.id, who.id, f"{command} {text}".strip())
            workspace.post_message(where.id, text=body.get("text", ""), blocks=body.get("blocks") or ())
        else:
            workspace.post_ephemeral(
                where.id, who.id, text=body.get("text", ""), blocks=body.get("blocks") or (), source="ack"
            )

    # -- button clicks --------------------------------------------------------------------------

    def click(
        self,
        *,
        user: str,
        channel: str,
        message_ts: str | None = None,
        action_index: int | None = None,
        action_id: str | None = None,
        value: str | None = None,
        timestamp: str | int | None = None,
        signature: str | None = None,
    ) -> DriverResponse:
        """Click a button on a message ``user`` sees (default: the latest one with buttons)."""
        who, where = self._user(user), self._channel(channel)
        message = self._find_message(where, who, message_ts)
        button = pick_button(buttons(message), action_index, action_id, value)
        trigger_id = self.local_slack.new_trigger_id(who.id)
        response_url = self.local_slack.new_response_url(
            where.id, who.id, message_ts=message.ts, is_ephemeral=message.is_ephemeral
        )
        payload = self._block_actions(who, where, message, button, trigger_id, response_url)
        body = urlencode({"payload": json.dumps(payload)})
        response = self.send(body, timestamp=timestamp, signature=signature)
        response.trigger_id, response.response_url, response.payload = trigger_id, response_url, payload
        return response

    def _block_actions(
        self,
        who: User,
        where: Channel,
        message: Message | Ephemeral,
        button: Button,
        trigger_id: str,
        response_url: str,
    ) -> JSON:
        workspace = self.local_slack.workspace
        team = workspace.team
        container: JSON = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": where.id,
            "is_ephemeral": message.is_ephemeral,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        action: JSON = {
            "action_id": button.action_id,
            "block_id": button.block_id,
            "text": button.element.get("text") or {"type": "plain_text", "text": button.text},
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        for optional in ("value", "style", "url"):
            if button.element.get(optional) is not None:
                action[optional] = button.element[optional]
        payload: JSON = {
            "type": "block_actions",
            "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": team.id},
            "api_app_id": workspace.bot.app_id,
            "token": self.verification_token,
            "container": container,
            "trigger_id": trigger_id,
            "team": {"id": team.id, "domain": team.domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": where.id, "name": "directmessage" if where.is_im else where.name},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }
        if not message.is_ephemeral:
            # Slack omits the message for ephemerals: the app never sees their content again.
            payload["message"] = message.to_api(team.id)
        return payload

    def _find_message(self, where: Channel, who: User, message_ts: str | None) -> Message | Ephemeral:
        workspace = self.local_slack.workspace
        if message_ts is None:
            found = workspace.latest_with_buttons(where.id, who.id)
        else:
            message = workspace.message(where.id, message_ts)
            visible = [e for e in workspace.ephemerals(where.id, who.id) if e.ts == message_ts]
            found = message if message is not None and not message.deleted else next(iter(visible), None)
        if found is None:
            raise LookupError(f"no message with buttons for {who.name} in {where.id} (ts={message_ts})")
        return found

    # -- lookups --------------------------------------------------------------------------------

    def _user(self, key: str) -> User:
        found = self.local_slack.workspace.user(key)
        # Unknown ids are still sent, so tests can exercise a bot's handling of strangers.
        return found or User(id=key, name=key)

    def _channel(self, key: str) -> Channel:
        found = self.local_slack.workspace.find_channel(key)
        if found is None:
            raise LookupError(f"unknown channel {key!r}")
        return found


def _retry_headers(retry_num: int | None, reason: str) -> dict[str, str]:
    return {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}
