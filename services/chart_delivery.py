"""The "job.chart" outbox kind: a finished job's metrics chart, shared in its thread after the summary.

The row names the job (and its workspace); the metrics are read from the backend when the row is delivered,
so the outbox never holds them and a restarted bot renders the same chart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from services.charts import plot_metrics
from services.chat import KIND_JOB_CHART, ChatTransientError, FileRenderer, RenderedFile
from services.errors import NotFound, ServiceError
from services.models import JobInfo, WorkspaceScope
from services.ports import Jobs

log = logging.getLogger(__name__)

KIND_CHART = KIND_JOB_CHART


def chart_payload(job: JobInfo, scope: WorkspaceScope) -> dict[str, Any]:
    """What a "job.chart" row keeps: which job, in which workspace (the data is read at delivery)."""
    return {
        "job_name": job.name,
        "display_name": job.display_name,
        "scope": {
            "subscription_id": scope.subscription_id,
            "resource_group": scope.resource_group,
            "workspace": scope.workspace,
        },
    }


def chart_filename(job_name: str) -> str:
    return f"{job_name}-metrics.png"


class JobCharts:
    """FileRenderer of "job.chart" rows: the job's metrics over steps as a PNG line chart."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    def filename(self, payload: Mapping[str, Any]) -> str:
        return chart_filename(str(payload["job_name"]))

    def render_file(self, payload: Mapping[str, Any]) -> RenderedFile | None:
        name = str(payload["job_name"])
        scope = WorkspaceScope(**(payload.get("scope") or {}))
        try:
            points = self.jobs.metrics(name, scope=scope)
        except NotFound:
            log.warning("job %s: gone before its chart was drawn; no chart", name)
            return None
        except ServiceError as err:
            raise ChatTransientError(f"metrics of {name} unavailable: {err}", maybe_delivered=False) from None
        display = payload.get("display_name")
        chart = plot_metrics(points, title=f"{display} ({name})" if display and display != name else name)
        if chart is None:
            return None
        keys = ", ".join(f"`{key}`" for key in chart.series)
        comment = f":chart_with_upwards_trend: Metrics of `{name}` by {chart.x_label}: {keys}"
        if chart.left_out:
            comment += f" ({len(chart.left_out)} more not drawn: {', '.join(chart.left_out)})"
        return RenderedFile(
            content=chart.png,
            title=f"Metrics of {name}",
            comment=comment,
            alt_text=f"Line chart of {', '.join(chart.series)} by {chart.x_label} for job {name}",
        )


def chart_renderers(jobs: Jobs) -> dict[str, FileRenderer]:
    """The file kinds the bot's outbox delivery uploads, for `OutboxDelivery(files=…)`."""
    return {KIND_CHART: JobCharts(jobs)}
