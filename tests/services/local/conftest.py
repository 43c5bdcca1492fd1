"""Fixtures for the local backend: a copy of the example catalog plus test templates, a fresh data folder."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.errors import InvalidState
from services.models import WorkspaceScope
from services.ports import CloudBackend
from tests.services.local.helpers_local import REPO_JOBS, TEST_TEMPLATES, make_backend


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    target = tmp_path / "jobs"
    shutil.copytree(REPO_JOBS, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in TEST_TEMPLATES.items():
        (target / name).write_text(text)
    return target


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def backend(data_dir: Path, catalog_dir: Path) -> Iterator[CloudBackend]:
    backend = make_backend(data_dir, catalog_dir)
    yield backend
    # leave no job running behind a test (sleepy jobs would otherwise outlive it)
    for workspace in backend.workspaces.list():
        scope = WorkspaceScope(resource_group=workspace.resource_group, workspace=workspace.name)
        for job in backend.jobs.list(scope=scope):
            if not job.status.is_terminal:
                with contextlib.suppress(InvalidState):
                    backend.jobs.cancel(job.name, scope=scope)
