"""Secrets never leave through the bot's real paths: slash command replies, SlackChat, the log handlers."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Callable, Iterator

import pytest
from azure.core.exceptions import HttpResponseError
from slack_sdk import WebClient

from bot.devslack import LocalSlack
from bot.logs import BOT_LOGGERS, SERVER_LOGGERS, RedactingFilter, configure_logging
from bot.notifier import SlackChat
from commands import build_table
from commands.context import CommandContext, Reply
from commands.table import CommandTable
from services.chat import RenderedFile
from services.cloud.azure.errors import azure_errors
from tests.conftest import RunningBot

SAS_SIG = "Xq3aPbLr8%2BfZ0kT1wYcV9mN4sD7gH2jK5lQ6eR0tU8o%3D"
SAS_URL = (
    "https://stamlbot.blob.core.windows.net/azureml/ExperimentRun/dcid.frosty_cat/user_logs/std_log.txt"
    f"?sv=2021-08-06&se=2026-03-01T18%3A00%3A00Z&sr=b&sp=r&sig={SAS_SIG}"
)
BOT_TOKEN = "xoxb-2468013579-1357924680-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlLXBhcnQ"
SECRETS = (SAS_SIG, BOT_TOKEN, ACCOUNT_KEY, JWT)


def leaky_reply(where: str) -> Reply:
    """What a careless command might answer: an Azure error quoting a SAS URL, a token, a key."""
    return Reply(
        f"{where}: GET {SAS_URL} failed, posted with {BOT_TOKEN}",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Log:* <{SAS_URL}|std_log.txt>"}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"AccountKey={ACCOUNT_KEY}; Authorization: Bearer {JWT}"}],
            },
        ],
    )


def leaky_table() -> CommandTable:
    table = build_table()
    table.noun("leak", "Answers with secrets in it, for tests.")

    def now(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Fast: the reply goes in the ack."""
        return leaky_reply("ack")

    def later(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Slow: the reply goes through respond()."""
        return leaky_reply("respond")

    table.add("leak", "now", now)
    table.add("leak", "later", later, slow=True)
    return table


def assert_redacted(shown: str) -> None:
    for secret in SECRETS:
        assert secret not in shown
    assert "[redacted]" in shown
    assert "stamlbot.blob.core.windows.net/azureml/ExperimentRun" in shown  # the harmless part stays


def test_a_slash_command_reply_in_the_ack_is_redacted(start_bot: Callable[..., RunningBot]) -> None:
    running = start_bot(table=leaky_table())
    response = running.driver.slash("leak now")
    assert response.status == 200
    assert_redacted(response.body)  # the raw HTTP answer to Slack
    (shown,) = running.workspace.ephemerals(user="U_ALICE")
    assert shown.text.startswith("ack: GET https://stamlbot") and "xoxb-[redacted]" in shown.text
    assert_redacted(shown.text + json.dumps(shown.blocks))
    assert "sig=[redacted]|std_log.txt>" in json.dumps(shown.blocks)


def test_a_slash_command_reply_through_respond_is_redacted(start_bot: Callable[..., RunningBot]) -> None:
    running = start_bot(table=leaky_table())
    shown = running.ask("leak later")
    assert "respond: GET https://stamlbot" in shown
    assert_redacted(shown)
    calls = [call for call in running.workspace.api_calls if call.method == "response_url"]
    assert calls and all(secret not in json.dumps(call.params) for call in calls for secret in SECRETS)


def test_slack_chat_redacts_every_text_it_sends(local_slack: LocalSlack) -> None:
    chat = SlackChat(WebClient(token=local_slack.bot_token, base_url=local_slack.api_url, timeout=5))
    leaky = leaky_reply("post")
    ts = chat.post("C_ML", text=leaky.text, blocks=leaky.blocks, dedupe_key="job:frosty_cat:root")
    chat.post("C_ML", text=f"reply with {BOT_TOKEN}", thread_ts=ts)
    chat.post_ephemeral("C_ML", "U_ALICE", text=leaky_reply("ephemeral").text, blocks=leaky.blocks)
    log_file = RenderedFile(f"epoch 1 loss 0.3\nGET {SAS_URL}\n".encode(), title=f"Log of {SAS_URL}")
    chat.upload_file("C_ML", ts, "std_log.txt", log_file)
    workspace = local_slack.workspace
    root = workspace.message("C_ML", ts)
    assert root is not None and root.text.startswith("post: GET https://stamlbot")
    assert_redacted(root.text + json.dumps(root.blocks))
    assert "reply with xoxb-[redacted]" in [reply.text for reply in workspace.replies("C_ML", ts)]
    (ephemeral,) = workspace.ephemerals(user="U_ALICE")
    assert_redacted(ephemeral.text + json.dumps(ephemeral.blocks))
    (uploaded,) = workspace.files.list("C_ML", thread_ts=ts)
    assert_redacted(uploaded.title + (uploaded.content or b"").decode())
    assert (uploaded.content or b"").startswith(b"epoch 1 loss 0.3\n")

    chat.update("C_ML", ts, text=f"updated: AccountKey={ACCOUNT_KEY}", blocks=leaky.blocks)
    root = workspace.message("C_ML", ts)
    assert root is not None and root.text == "updated: AccountKey=[redacted]"
    assert_redacted(json.dumps(root.blocks))
    # Nothing that reached the local Slack's Web API carried a secret.
    for call in workspace.api_calls:
        assert all(secret not in json.dumps(call.params, default=str) for secret in SECRETS), call.method
    assert chat.find_posted("C_ML", "job:frosty_cat:root", None) == ts  # metadata untouched


def test_slack_chat_leaves_binary_files_alone(local_slack: LocalSlack) -> None:
    chat = SlackChat(WebClient(token=local_slack.bot_token, base_url=local_slack.api_url, timeout=5))
    content = b"\x89PNG\r\n\x1a\n\xff\xfe" + ACCOUNT_KEY.encode()
    chat.upload_file("C_ML", None, "plot.png", RenderedFile(content, title=""))
    (uploaded,) = local_slack.workspace.files.list("C_ML")
    assert uploaded.content == content and uploaded.title == "plot.png"


@pytest.fixture
def bot_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """configure_logging as `python -m bot serve` runs it, writing to a StringIO; logging restored after."""
    root = logging.getLogger()
    saved_root = list(root.handlers), root.level
    named = [logging.getLogger(name) for name in (*BOT_LOGGERS, *SERVER_LOGGERS)]
    saved_named = [(logger, logger.level, logger.propagate, list(logger.filters)) for logger in named]
    stream = io.StringIO()
    root.handlers = []
    monkeypatch.setattr(sys, "stderr", stream)
    try:
        configure_logging("INFO")
        yield stream
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = saved_root[0]
        root.setLevel(saved_root[1])
        for logger, level, propagate, filters in saved_named:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.filters = filters


def bot_handler(stream: io.StringIO) -> logging.Handler:
    """The root handler configure_logging made (pytest adds its own capture handlers beside it)."""
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is stream]
    return handler


def test_log_records_are_redacted_through_the_root_handler(bot_logging: io.StringIO) -> None:
    handler = bot_handler(bot_logging)
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    logging.getLogger("bot.notifier").info("posting with token %s to %s", BOT_TOKEN, "C_ML")
    logging.getLogger("slack_bolt.App").warning("request body: %r", {"token": BOT_TOKEN, "text": "hi"})
    logging.getLogger("azure.core.pipeline").warning("Request URL: '%s'", SAS_URL)
    logging.getLogger("commands.jobs").info("env AMLBOT_SLACK_SIGNING_SECRET=%s", "8f14e45fceea167a5a36dedd4bea2543")
    logging.getLogger("services.outbox").info("plain %d%% done", 50)
    out = bot_logging.getvalue()
    assert_redacted(out)
    assert "8f14e45fceea167a5a36dedd4bea2543" not in out
    assert "posting with token xoxb-[redacted] to C_ML" in out
    assert "bot.notifier" in out and "plain 50% done" in out


def test_logger_exception_of_an_azure_error_logs_no_signature(bot_logging: io.StringIO) -> None:
    log = logging.getLogger("services.cloud.azure.jobs")
    try:
        raise HttpResponseError(message=f"(AuthenticationFailed) GET {SAS_URL} with AccountKey={ACCOUNT_KEY}")
    except HttpResponseError:
        log.exception("reading the log of %s failed", "frosty_cat")
    try:
        with azure_errors("the job `frosty_cat`"):
            raise HttpResponseError(message=f"Bearer {JWT} refused")
    except Exception:
        logging.getLogger("bot.work").exception("work failed")
    out = bot_logging.getvalue()
    assert "Traceback (most recent call last)" in out and "HttpResponseError" in out
    assert "reading the log of frosty_cat failed" in out
    assert_redacted(out)


def test_the_filter_reaches_loggers_with_their_own_handlers(bot_logging: io.StringIO) -> None:
    # gunicorn's error log: its own handler, no propagation (as gunicorn.glogging sets it up after us).
    gunicorn_error = logging.getLogger("gunicorn.error")
    own = io.StringIO()
    handler = logging.StreamHandler(own)
    gunicorn_error.addHandler(handler)
    saved_propagate = gunicorn_error.propagate
    gunicorn_error.propagate = False
    try:
        gunicorn_error.error("Error handling request /slack/events?token=%s", BOT_TOKEN)
    finally:
        gunicorn_error.removeHandler(handler)
        gunicorn_error.propagate = saved_propagate
    assert BOT_TOKEN not in own.getvalue() and "token=[redacted]" in own.getvalue()
    for name in BOT_LOGGERS:
        assert logging.getLogger(name).propagate


def test_configure_logging_twice_installs_one_filter(bot_logging: io.StringIO) -> None:
    configure_logging("INFO")
    handler = bot_handler(bot_logging)
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger("gunicorn.error").filters) == 1
