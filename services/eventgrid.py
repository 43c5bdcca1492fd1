"""Azure ML run events from Event Grid, in either delivery schema, as the bot's own value type."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.models import JobStatus, WorkspaceScope

RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
RUN_COMPLETED = "Microsoft.MachineLearningServices.RunCompleted"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"

_WORKSPACE_TOPIC = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)",
    re.IGNORECASE,
)


class EventFormatError(ValueError):
    """The body is not an Event Grid or CloudEvents delivery the bot understands."""


@dataclass(frozen=True)
class RunStatusEvent:
    """A job's status as Azure ML announced it; `event_id` is unique per event for dedupe."""

    event_id: str
    job_name: str
    status: JobStatus
    scope: WorkspaceScope
    experiment: str | None = None
    occurred_at: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def parse_events(events: Iterable[Mapping[str, Any]]) -> list[RunStatusEvent]:
    """Keep the run events among a delivery's events (either schema); other types are ignored."""
    parsed = []
    for event in events:
        if not isinstance(event, Mapping):
            raise EventFormatError("each event must be a JSON object")
        run_event = _parse_one(event)
        if run_event is not None:
            parsed.append(run_event)
    return parsed


def validation_code(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The validation code of an Event Grid subscription handshake, if this delivery is one."""
    for event in events:
        if isinstance(event, Mapping) and event.get("eventType") == VALIDATION_EVENT:
            data = event.get("data") or {}
            code = data.get("validationCode") if isinstance(data, Mapping) else None
            return str(code) if code else None
    return None


def _parse_one(event: Mapping[str, Any]) -> RunStatusEvent | None:
    # Event Grid schema says eventType/topic/eventTime; CloudEvents says type/source/time.
    event_type = event.get("eventType") or event.get("type")
    if event_type not in (RUN_STATUS_CHANGED, RUN_COMPLETED):
        return None
    data = event.get("data")
    if not isinstance(data, Mapping) or not data.get("runId") or not event.get("id"):
        raise EventFormatError(f"{event_type} without an id or data.runId")
    status = JobStatus.COMPLETED if event_type == RUN_COMPLETED else JobStatus.parse(data.get("runStatus"))
    tags = data.get("runTags") if isinstance(data.get("runTags"), Mapping) else {}
    return RunStatusEvent(
        event_id=str(event["id"]),
        job_name=str(data["runId"]),
        status=status,
        scope=_scope(str(event.get("topic") or event.get("source") or "")),
        experiment=data.get("experimentName"),
        occurred_at=_time(event.get("eventTime") or event.get("time")),
        tags={str(k): str(v) for k, v in (tags or {}).items()},
    )


def _scope(topic: str) -> WorkspaceScope:
    match = _WORKSPACE_TOPIC.search(topic)
    if not match:
        return WorkspaceScope()
    return WorkspaceScope(subscription_id=match["sub"], resource_group=match["rg"], workspace=match["ws"])


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    # Event Grid sends seven fractional digits; Python takes six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
