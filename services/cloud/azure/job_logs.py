"""The tail of a job's log, read the way `jobs.stream` does: run-history details list the log files
(as SAS URLs to the workspace storage) and each file is one GET away. Nothing is streamed or waited on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.cloud.azure.errors import azure_errors, redact

# Most telling first: the common runtime's user log, then per-process logs, then the legacy driver log.
_PREFERENCE = (
    re.compile(r"(^|/)user_logs/std_log\.txt$"),
    re.compile(r"(^|/)user_logs/std_log_process_0+\.txt$"),
    re.compile(r"(^|/)user_logs/std_log.*\.txt$"),
    re.compile(r"(^|/)azureml-logs/70_driver_log.*\.txt$"),
    re.compile(r"(^|/)user_logs/.*\.txt$"),
    re.compile(r"\.txt$"),
)
# Tails are cut from the end of the file; no need to hold a huge log in memory for 40 lines.
MAX_LOG_BYTES = 2 * 1024 * 1024


def pick_log(log_files: Mapping[str, str]) -> str | None:
    """The name of the log file worth tailing, or None when the job has none yet."""
    for pattern in _PREFERENCE:
        matches = sorted(name for name in log_files if pattern.search(name))
        if matches:
            return matches[0]
    return None


def tail(text: str, lines: int) -> str:
    kept = text.splitlines()[-lines:] if lines > 0 else []
    return redact("\n".join(kept))


def download_text(url: str, transport_kwargs: dict[str, Any], *, what: str) -> str:
    """GET a SAS URL (it carries its own authorisation) through an azure-core pipeline."""
    from azure.core import PipelineClient
    from azure.core.rest import HttpRequest

    client: Any = PipelineClient(base_url=url.split("?", 1)[0], **transport_kwargs)
    with azure_errors(what):
        response = client.send_request(HttpRequest("GET", url), stream=False)
        response.raise_for_status()
        content: bytes = response.content
    return content[-MAX_LOG_BYTES:].decode("utf-8", errors="replace")
