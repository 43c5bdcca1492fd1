"""Command jobs from the job catalog through MLClient.jobs: submit, rerun, read, list, cancel, logs, metrics."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.cloud.azure.clients import AzureClients, Target
from services.cloud.azure.errors import azure_errors
from services.cloud.azure.job_info import (
    SERVICE_KINDS,
    details_error,
    job_info,
    needs_details,
    run_details,
)
from services.cloud.azure.job_logs import download_text, pick_log, tail
from services.cloud.azure.job_source import load_template_job
from services.cloud.azure.metrics import https_tracking_uri, read_metrics
from services.errors import AlreadyExists, BackendUnavailable, InvalidInput, InvalidState, NotFound, ServiceError
from services.models import (
    TAG_REQUEST,
    TAG_SLACK_CHANNEL,
    TAG_SLACK_USER,
    TAG_TEMPLATE,
    JobInfo,
    JobRequest,
    JobStatus,
    MetricPoint,
    WorkspaceScope,
)
from services.naming import job_name_for, validate_compute, validate_job_name

if TYPE_CHECKING:
    from services.catalog import JobCatalog, JobTemplate

# What a person may ask for (`--service jupyter`) → the entity class name in azure.ai.ml.entities.
_SERVICE_ALIASES = {
    "jupyter": "jupyter",
    "jupyterlab": "jupyter",
    "jupyter_lab": "jupyter",
    "vscode": "vscode",
    "vs_code": "vscode",
    "vs-code": "vscode",
    "code": "vscode",
    "tensorboard": "tensorboard",
    "tensor_board": "tensorboard",
}
# TensorBoard needs a folder to read; the convention for command jobs is a folder under ./outputs.
TENSORBOARD_LOG_DIR = "outputs/tblogs"


def _service_entities(kinds: tuple[str, ...]) -> dict[str, Any]:
    from azure.ai.ml.entities import JupyterLabJobService, TensorBoardJobService, VsCodeJobService

    services: dict[str, Any] = {}
    for raw in kinds:
        kind = _SERVICE_ALIASES.get(raw.strip().lower())
        if kind is None:
            raise InvalidInput(f"Unknown service `{raw}`.", hint="Use jupyter, vscode or tensorboard.")
        if kind == "jupyter":
            services[kind] = JupyterLabJobService()
        elif kind == "vscode":
            services[kind] = VsCodeJobService()
        else:
            services[kind] = TensorBoardJobService(log_dir=TENSORBOARD_LOG_DIR)
    return services


def _bare(key: str) -> str:
    key = key.strip()
    return key[len("inputs.") :] if key.startswith("inputs.") else key


def _previous_inputs(job: Any, declared: Mapping[str, Any]) -> dict[str, str]:
    """A job's input values as `--set` text (literals, and data inputs' paths), for a rerun to start from."""
    values: dict[str, str] = {}
    for name, value in (getattr(job, "inputs", None) or {}).items():
        if name not in declared:
            continue
        raw = getattr(value, "_data", value)  # Command jobs wrap each input in a NodeInput
        if isinstance(raw, bool):
            values[name] = str(raw).lower()
        elif isinstance(raw, str | int | float):
            values[name] = str(raw)
        elif isinstance(getattr(raw, "path", None), str):  # an Input: uri_folder, mltable...
            values[name] = raw.path
    return values


class AzureJobs:
    """Jobs port over Azure ML. Submits are idempotent per request: the job name comes from the request."""

    def __init__(
        self,
        clients: AzureClients,
        catalog: JobCatalog,
        *,
        mlflow_host: Callable[[str], str] = https_tracking_uri,
    ) -> None:
        self._clients = clients
        self._catalog = catalog
        self._mlflow_host = mlflow_host

    def _client(self, scope: WorkspaceScope | None) -> tuple[Any, Target]:
        target = self._clients.target(scope)
        return self._clients.ml(target), target

    @staticmethod
    def _what(name: str) -> str:
        return f"job `{name}`"

    # ------------------------------------------------------------------ reading
    def _entity(self, ml: Any, name: str) -> Any:
        with azure_errors(self._what(name)):
            return ml.jobs.get(name)

    def _info(self, ml: Any, job: Any) -> JobInfo:
        status = JobStatus.parse(str(getattr(job.status, "value", job.status)))
        details = run_details(ml, str(job.name)) if needs_details(status) else None
        return job_info(job, details)

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        validate_job_name(name)
        ml, _ = self._client(scope)
        return self._info(ml, self._entity(ml, name))

    def list(
        self, *, tag: str | None = None, scope: WorkspaceScope | None = None, limit: int | None = None
    ) -> builtins.list[JobInfo]:
        """Newest first, without run-history details (one request per page, not per job)."""
        ml, target = self._client(scope)
        key, _, value = (tag or "").partition("=")
        found: builtins.list[JobInfo] = []
        with azure_errors(f"the jobs of workspace `{target.workspace}`"):
            # The service filters by tag key only; the value is checked here.
            for job in ml.jobs.list(tag=key) if key else ml.jobs.list():
                if job is None:  # the SDK yields None for jobs it cannot parse
                    continue
                info = job_info(job)
                if value and info.tags.get(key) != value:
                    continue
                found.append(info)
                if limit is not None and len(found) >= limit:
                    break
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda i: i.created_at or oldest, reverse=True)

    # ------------------------------------------------------------------ submitting
    def _existing(self, ml: Any, name: str) -> Any | None:
        try:
            return self._entity(ml, name)
        except NotFound:
            return None

    def _build(
        self,
        template: JobTemplate,
        overrides: Mapping[str, object],
        request: JobRequest,
        name: str,
        compute: str | None,
        services: dict[str, Any],
    ) -> Any:
        with azure_errors(f"job template `{template.name}`"):
            job = load_template_job(template, overrides)
        job.name = name
        job.display_name = request.display_name or template.display_name or job.display_name
        job.experiment_name = request.experiment or template.experiment or job.experiment_name
        if compute:
            job.compute = compute
        job.tags = {
            **(job.tags or {}),
            TAG_SLACK_USER: request.requested_by,
            TAG_SLACK_CHANNEL: request.channel,
            TAG_REQUEST: request.request_id,
            TAG_TEMPLATE: template.name,
        }
        if services:
            job.services = services
        return job

    def submit(self, request: JobRequest, *, scope: WorkspaceScope | None = None) -> JobInfo:
        template = self._catalog.get(request.template)
        overrides = self._catalog.validate_overrides(template, request.overrides)
        name = job_name_for(request)
        compute = request.compute or template.compute
        if compute:
            compute = validate_compute(compute.removeprefix("azureml:"))
        services = _service_entities(request.services) if request.services else {}
        ml, _ = self._client(scope)
        # A retried request (same request id, so same name) returns the job it already submitted.
        existing = self._existing(ml, name)
        if existing is not None:
            return self._info(ml, self._same_request(existing, request))
        job = self._build(template, overrides, request, name, compute, services)
        try:
            with azure_errors(self._what(name)):
                created = ml.jobs.create_or_update(job)
        except AlreadyExists:
            # Another replica submitted the same request between our read and our write, or another request
            # took the (explicit) name meanwhile.
            return self._info(ml, self._same_request(self._entity(ml, name), request))
        return job_info(created)

    @staticmethod
    def _same_request(existing: Any, request: JobRequest) -> Any:
        """`existing` when this request submitted it (an idempotent retry); AlreadyExists when another did."""
        if (existing.tags or {}).get(TAG_REQUEST) == request.request_id:
            return existing
        raise AlreadyExists(
            f"A job named `{existing.name}` already exists.", hint="Choose another name, or leave the name out."
        )

    def rerun(
        self,
        name: str,
        *,
        request_id: str,
        requested_by: str,
        channel: str,
        overrides: Mapping[str, str] | None = None,
        scope: WorkspaceScope | None = None,
    ) -> JobInfo:
        """Submit the template a bot job came from again, with its inputs and the new overrides."""
        validate_job_name(name)
        ml, _ = self._client(scope)
        original = self._entity(ml, name)
        template_name = (original.tags or {}).get(TAG_TEMPLATE)
        if not template_name:
            raise InvalidInput(
                f"Job `{name}` was not submitted from the bot's job catalog, so it cannot be rerun here.",
                hint="Submit a catalog template with `/aml job submit` instead.",
            )
        template = self._catalog.get(template_name)
        values = _previous_inputs(original, template.inputs)
        values.update({_bare(k): v for k, v in (overrides or {}).items()})
        kinds = tuple(
            SERVICE_KINDS[s.type]
            for s in (original.services or {}).values()
            if getattr(s, "type", None) in SERVICE_KINDS
        )
        info = job_info(original)
        request = JobRequest(
            template=template.name,
            request_id=request_id,
            requested_by=requested_by,
            channel=channel,
            overrides=values,
            compute=info.compute,
            experiment=info.experiment,
            display_name=info.display_name,
            services=kinds,
        )
        return self.submit(request, scope=scope)

    # ------------------------------------------------------------------ acting
    def cancel(self, name: str, *, scope: WorkspaceScope | None = None) -> JobInfo:
        validate_job_name(name)
        ml, _ = self._client(scope)
        before = self._info(ml, self._entity(ml, name))
        if before.status.is_terminal:
            raise InvalidState(f"Job `{name}` already finished ({before.status.value}); there is nothing to cancel.")
        if before.status is JobStatus.CANCEL_REQUESTED:
            return before
        try:
            with azure_errors(self._what(name)):
                ml.jobs.begin_cancel(name)  # the poller finishes in its own thread; the watcher sees the rest
        except ServiceError:
            now = self._info(ml, self._entity(ml, name))
            if now.status.is_terminal:
                raise InvalidState(
                    f"Job `{name}` finished ({now.status.value}) before it could be cancelled."
                ) from None
            raise
        return self._info(ml, self._entity(ml, name))

    def log_tail(self, name: str, *, lines: int = 40, scope: WorkspaceScope | None = None) -> str:
        """The last lines of the job's main log; its error message when it has no log (yet)."""
        validate_job_name(name)
        ml, _ = self._client(scope)
        with azure_errors(self._what(name)):
            details = ml.jobs._runs_operations.get_run_details(name)
        log_files: dict[str, str] = dict(getattr(details, "log_files", None) or {})
        chosen = pick_log(log_files)
        if chosen is None:
            return details_error(details) or ""
        content = download_text(
            log_files[chosen], self._clients.transport_kwargs(), what=f"log `{chosen}` of job `{name}`"
        )
        return tail(content, lines)

    def metrics(self, name: str, *, scope: WorkspaceScope | None = None) -> builtins.list[MetricPoint]:
        validate_job_name(name)
        ml, target = self._client(scope)
        with azure_errors(f"workspace `{target.workspace}`"):
            workspace = ml.workspaces.get(target.workspace)
        uri = getattr(workspace, "mlflow_tracking_uri", None)
        if not uri:
            raise BackendUnavailable(f"Workspace `{target.workspace}` reports no MLflow tracking URI.")
        return read_metrics(uri, name, token=self._clients.bearer_token, to_host=self._mlflow_host)
