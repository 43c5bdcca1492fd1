"""The Models port, the same on both backends: register a finished job's output as an explicit version."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from services.errors import AlreadyExists, InvalidName
from services.models import ModelInfo, ModelType
from services.ports import CloudBackend
from tests.services.contract.contract_helpers import completed_job

Untouched = Callable[[], AbstractContextManager[None]]


def test_register_a_version_then_registering_it_again_is_already_exists(backend: CloudBackend) -> None:
    job = completed_job(backend)
    info = backend.models.register(job_name=job.name, name="contract-model", version="1", path="model")
    assert isinstance(info, ModelInfo)
    assert (info.name, info.version, info.type, info.job_name) == ("contract-model", "1", ModelType.CUSTOM, job.name)
    assert info.path
    mlflow = backend.models.register(
        job_name=job.name, name="contract-model", version="2", path="model", type=ModelType.MLFLOW
    )
    assert (mlflow.version, mlflow.type) == ("2", ModelType.MLFLOW)
    with pytest.raises(AlreadyExists):
        backend.models.register(job_name=job.name, name="contract-model", version="1", path="model")
    versions = backend.models.list_versions("contract-model")
    assert sorted((v.version, v.type) for v in versions) == [("1", ModelType.CUSTOM), ("2", ModelType.MLFLOW)]
    assert all(isinstance(v, ModelInfo) and v.name == "contract-model" for v in versions)


@pytest.mark.parametrize(
    ("name", "version", "job"),
    [("contract model", "1", "contract-1"), ("contract-model", "-1", "contract-1"), ("contract-model", "1", "9 job")],
    ids=["model-name", "version", "job-name"],
)
def test_an_invalid_name_is_refused_before_any_call(
    backend: CloudBackend, untouched: Untouched, name: str, version: str, job: str
) -> None:
    with untouched(), pytest.raises(InvalidName):
        backend.models.register(job_name=job, name=name, version=version)


def test_an_invalid_model_name_to_list_is_refused_before_any_call(backend: CloudBackend, untouched: Untouched) -> None:
    with untouched(), pytest.raises(InvalidName):
        backend.models.list_versions("contract model")
