"""Logging set-up, once at start-up; every record passes services.redaction before it is written."""

from __future__ import annotations

import logging
import sys
from typing import Any

from services.redaction import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The loggers the bot's records come from; they must reach the root handlers (and so the filter).
BOT_LOGGERS = ("bot", "commands", "services", "slack_bolt", "slack_sdk", "azure")
# gunicorn writes its error and access logs through its own handlers on these, not propagating to the root.
SERVER_LOGGERS = ("gunicorn.error", "gunicorn.access")

_DONE = "_amlbot_redacted"
_EXCEPTIONS = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Format the record's message, redact it and store it back (args cleared); the same for its traceback."""
    if getattr(record, _DONE, False):
        return  # several handlers see the same record: once is enough
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what there is rather than fail the log call
        message = f"{record.msg} (args: {record.args!r})"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        # Formatter.format uses exc_text when set, so no handler formats the raw exception again.
        record.exc_text = _EXCEPTIONS.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    setattr(record, _DONE, True)


class RedactingFilter(logging.Filter):
    """Redacts every record it sees (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class RedactingFormatter(logging.Formatter):
    """A formatter whose output (message, traceback, any extra field) is redacted as a whole."""

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _install(handler: logging.Handler, redacting: RedactingFilter) -> None:
    if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
        handler.addFilter(redacting)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    had_handlers = bool(root.handlers)
    logging.basicConfig(level=level, stream=sys.stderr, format=FORMAT)
    redacting = RedactingFilter()
    for handler in root.handlers:
        _install(handler, redacting)
        if not had_handlers and type(handler.formatter) is logging.Formatter:
            handler.setFormatter(RedactingFormatter(FORMAT))  # the handler basicConfig just made
    for name in BOT_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = True
        for handler in logger.handlers:  # a library's own handler, should one appear
            _install(handler, redacting)
    for name in SERVER_LOGGERS:
        # A logger's own filters see every record logged to it directly, whatever handlers gunicorn sets.
        server_logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactingFilter) for existing in server_logger.filters):
            server_logger.addFilter(redacting)
    # slack_sdk logs whole request bodies at DEBUG; keep it quieter than the bot.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, logging.getLevelName(level)))
