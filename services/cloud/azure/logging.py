"""Quiet the Azure SDK loggers so the bot's own logging configuration decides what is shown."""

from __future__ import annotations

import logging

# azure.ai.ml installs an INFO stderr handler with propagate=False on these (on import and on first use).
_AML_PREFIX = "azure.ai.ml"
# Its telemetry logger is deliberately cut off (NullHandler, no propagation): leave it that way.
_AML_TELEMETRY = "azure.ai.ml._telemetry"
_HTTP_LOGGING = "azure.core.pipeline.policies.http_logging_policy"


def tame_sdk_loggers() -> None:
    """Reset azure.ai.ml's loggers to WARNING without their own handlers, propagating to the root."""
    names = [_AML_PREFIX] + [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.startswith(_AML_PREFIX + ".") and not name.startswith(_AML_TELEMETRY)
    ]
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                logger.removeHandler(handler)
        logger.setLevel(logging.WARNING if name == _AML_PREFIX else logging.NOTSET)
        logger.propagate = True
    # The HTTP logging policy logs every request and response header at INFO.
    logging.getLogger(_HTTP_LOGGING).setLevel(logging.WARNING)
