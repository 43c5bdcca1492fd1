"""Model registration from job outputs through MLClient.models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from services.cloud.azure.clients import AzureClients
from services.cloud.azure.errors import azure_errors
from services.cloud.azure.job_info import output_uri
from services.errors import InvalidInput
from services.models import ModelInfo, ModelType, WorkspaceScope
from services.naming import validate_job_name, validate_model_name, validate_model_version

_JOB_IN_PATH = re.compile(r"^azureml://jobs/(?P<job>[^/]+)/outputs/")


def model_path(job_name: str, path: str) -> str:
    """azureml://jobs/<job>/outputs/artifacts/paths/<path>/ (a folder of the job's artifacts)."""
    cleaned = path.strip().strip("/")
    if not cleaned or ".." in cleaned.split("/"):
        raise InvalidInput(f"`{path}` is not a folder inside the job's outputs.", hint="For example `model`.")
    return f"{output_uri(job_name)}{cleaned}/"


def version_key(version: str) -> tuple[int, int, str]:
    """Sort key of a model version: numbers by value, after them other labels (as the local backend sorts)."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _model_type(value: Any) -> ModelType:
    return ModelType.MLFLOW if "mlflow" in str(value or "").lower() else ModelType.CUSTOM


def model_info(entity: Any) -> ModelInfo:
    path = str(entity.path or "")
    match = _JOB_IN_PATH.match(path)
    return ModelInfo(
        name=str(entity.name),
        version=str(entity.version),
        type=_model_type(entity.type),
        path=path,
        job_name=match.group("job") if match else None,
    )


class AzureModels:
    """Models port: register a job's output folder as a model version; list a model's versions."""

    def __init__(self, clients: AzureClients) -> None:
        self._clients = clients

    def register(
        self,
        *,
        job_name: str,
        name: str,
        version: str,
        path: str = "model",
        type: ModelType = ModelType.CUSTOM,
        scope: WorkspaceScope | None = None,
    ) -> ModelInfo:
        validate_job_name(job_name)
        validate_model_name(name)
        validate_model_version(version)
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Model

        entity = Model(
            path=model_path(job_name, path),
            name=name,
            version=version,  # explicit, so two registrations cannot race for "the next" version
            type=AssetTypes.MLFLOW_MODEL if type is ModelType.MLFLOW else AssetTypes.CUSTOM_MODEL,
            description=f"Registered from job {job_name}.",
        )
        ml = self._clients.ml(self._clients.target(scope))
        with azure_errors(f"model `{name}` version `{version}`"):
            return model_info(ml.models.create_or_update(entity))

    def list_versions(self, name: str, *, scope: WorkspaceScope | None = None) -> Sequence[ModelInfo]:
        """Newest (highest) version first."""
        validate_model_name(name)
        ml = self._clients.ml(self._clients.target(scope))
        with azure_errors(f"model `{name}`"):
            versions = [model_info(m) for m in ml.models.list(name=name)]
        return sorted(versions, key=lambda m: version_key(m.version), reverse=True)
