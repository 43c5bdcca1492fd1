"""End to end with a real slack_bolt App: the driver's requests pass Bolt's checks, Bolt's calls land here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient

from bot.devslack import LocalSlack, SlackDriver, render_channel

APPROVE: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Delete workspace *ws-1*?"}},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": "reject", "text": {"type": "plain_text", "text": "Reject"}},
        ],
    },
]


def bolt_app(client: WebClient, signing_secret: str) -> App:
    app = App(client=client, signing_secret=signing_secret)

    @app.command("/aml")
    def aml(ack: Ack, respond: Respond, command: dict[str, Any], client: WebClient) -> None:
        ack()
        respond("Checking…")
        client.chat_postMessage(channel=command["channel_id"], text="Approve?", blocks=APPROVE)

    @app.action("approve")
    def approve(ack: Ack, respond: Respond, body: dict[str, Any]) -> None:
        ack()
        respond(text=f"Approved by <@{body['user']['id']}>", replace_original=True)

    return app


@pytest.fixture
def bolt_url(local_slack: LocalSlack, signing_secret: str) -> Iterator[str]:
    client = WebClient(token=local_slack.bot_token, base_url=local_slack.api_url)
    app = bolt_app(client, signing_secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            response = app.dispatch(BoltRequest(body=body, headers=dict(self.headers.items())))
            data = response.body.encode()
            self.send_response(response.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/slack/events"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_slash_then_click(local_slack: LocalSlack, bolt_url: str, signing_secret: str) -> None:
    ws = local_slack.workspace
    driver = SlackDriver(bolt_url, signing_secret, local_slack)
    assert driver.slash("delete ws-1").status == 200
    assert ws.wait_until(lambda: ws.latest_with_buttons("C_ML", "U_ALICE") is not None, timeout=5)
    assert ws.wait_until(
        lambda: [e.text for e in ws.ephemerals("C_ML", "U_ALICE")] == ["Checking…"], timeout=5
    )

    assert driver.click(user="alice", channel="ml-team", action_index=1).status == 200
    assert ws.wait_until(lambda: ws.messages("C_ML")[0].text == "Approved by <@U_ALICE>", timeout=5)
    assert "@aml-bot: Approved by @alice" in render_channel(ws, "C_ML", viewer="U_ALICE")


def test_bolt_rejects_bad_signatures(local_slack: LocalSlack, bolt_url: str, signing_secret: str) -> None:
    assert SlackDriver(bolt_url, "wrong-secret", local_slack).slash("x").status == 401
    assert SlackDriver(bolt_url, signing_secret, local_slack).slash("x", timestamp=1700000000).status == 401
