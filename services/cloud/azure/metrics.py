"""Job metrics through MLflow's REST tracking store, authorised with the bot's own Azure token.

What works without azureml-mlflow (not installed): reading a run's metric histories. The workspace's
tracking URI (`azureml://<region>.api.azureml.ms/mlflow/v1.0/subscriptions/...`) is rewritten to https and
given to mlflow-skinny's RestStore with a bearer token from the bot's credential; Azure ML's MLflow run id
is the job name. What needs azureml-mlflow: `mlflow.set_tracking_uri("azureml://...")` (the URI scheme is
registered by that plugin), artifact downloads through MLflow and logging from the bot process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.errors import BackendUnavailable, Forbidden, NotFound, ServiceError
from services.models import MetricPoint


def https_tracking_uri(tracking_uri: str) -> str:
    """'azureml://host/mlflow/v1.0/...' → 'https://host/mlflow/v1.0/...' (what azureml-mlflow does too)."""
    if tracking_uri.startswith("azureml://"):
        return "https://" + tracking_uri[len("azureml://") :]
    return tracking_uri


def _mlflow_error(exc: Exception, job: str) -> ServiceError:
    code = str(getattr(exc, "error_code", "") or "")
    if code == "RESOURCE_DOES_NOT_EXIST":
        return NotFound(f"No MLflow run was found for job `{job}`.", hint="Metrics appear once the job logs them.")
    if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return Forbidden(
            f"The bot may not read the metrics of job `{job}`.",
            role="AzureML Data Scientist on the workspace",
            hint="Ask an owner to grant it AzureML Data Scientist on the workspace.",
        )
    return BackendUnavailable(f"Could not read the metrics of job `{job}` from MLflow.", hint="Try again later.")


def read_metrics(
    tracking_uri: str,
    job_name: str,
    *,
    token: Callable[[], str],
    to_host: Callable[[str], str] = https_tracking_uri,
) -> list[MetricPoint]:
    """Every logged value of every metric of the job's MLflow run, ordered by key then step."""
    # mlflow-skinny reports usage unless told not to; the bot should not.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.exceptions import MlflowException
    from mlflow.store.tracking.rest_store import RestStore
    from mlflow.utils.rest_utils import MlflowHostCreds

    host = to_host(tracking_uri)
    store = RestStore(lambda: MlflowHostCreds(host=host, token=token()))
    points: list[MetricPoint] = []
    try:
        run: Any = store.get_run(job_name)
        for key in sorted(run.data.metrics):
            for metric in store.get_metric_history(job_name, key):
                points.append(
                    MetricPoint(
                        key=str(metric.key),
                        step=int(metric.step or 0),
                        value=float(metric.value),
                        timestamp=datetime.fromtimestamp(metric.timestamp / 1000, UTC) if metric.timestamp else None,
                    )
                )
    except MlflowException as exc:
        raise _mlflow_error(exc, job_name) from None
    return sorted(points, key=lambda p: (p.key, p.step, p.timestamp or datetime.min.replace(tzinfo=UTC)))
