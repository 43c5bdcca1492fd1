"""Catalog templates as job YAML azure-ai-ml accepts: typed inputs with defaults become literals."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import JobCatalog
from services.cloud.azure.job_source import job_yaml, load_template_job
from tests.services.azure.azure_fakes import JOBS_DIR

REPO_JOBS = Path(__file__).resolve().parents[3] / "jobs"


def test_typed_inputs_become_literals_and_overrides_apply() -> None:
    catalog = JobCatalog(JOBS_DIR)
    template = catalog.get("tiny")
    values = catalog.validate_overrides(template, {"lr": "0.5", "data": "azureml://datastores/d/paths/v9/"})
    document = job_yaml(template, values)
    assert document["inputs"] == {
        "lr": 0.5,
        "epochs": 2,
        "data": {"type": "uri_folder", "path": "azureml://datastores/d/paths/v9/"},
    }
    job = load_template_job(template, values)
    assert {k: getattr(v, "_data", v) for k, v in job.inputs.items() if k != "data"} == {"lr": 0.5, "epochs": 2}


def test_defaults_are_used_without_overrides() -> None:
    template = JobCatalog(JOBS_DIR).get("tiny")
    assert job_yaml(template, {})["inputs"]["lr"] == 0.01


@pytest.mark.parametrize("name", ["hello", "train-tiny", "fail"])
def test_the_shared_example_catalog_loads_for_azure(name: str) -> None:
    """jobs/ uses component-style inputs and `code: src`; both must survive the trip through load_job."""
    catalog = JobCatalog(REPO_JOBS)
    if name not in catalog.names():
        pytest.skip(f"jobs/{name}.yml is not in the example catalog")
    template = catalog.get(name)
    job = load_template_job(template, {})
    assert job.command
    if template.code is not None:
        assert (Path(job.base_path) / str(job.code)).resolve() == template.code
