"""Models on this machine: a job's output copied to `models/<name>/<version>/` in its workspace."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.cloud.local._fs import iso, read_json, utcnow, write_json
from services.cloud.local._state import COMPLETED, OUTPUTS_DIR, read_status
from services.cloud.local.jobs import LocalJobs
from services.cloud.local.layout import Layout, find_child, not_found
from services.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from services.models import ModelInfo, ModelType, WorkspaceScope
from services.naming import validate_job_name, validate_model_name, validate_model_version

META_DIR = "_meta"  # versions start with a letter or digit, so this never clashes with one


def _version_key(version: str) -> tuple[int, int, str]:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


class LocalModels:
    def __init__(self, layout: Layout, jobs: LocalJobs) -> None:
        self._layout = layout
        self._jobs = jobs

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
        validate_job_name(job_name)  # all names first, in the order Azure checks them
        validate_model_name(name)
        validate_model_version(version)
        workspace = self._layout.workspace_for(scope)
        job_dir = self._jobs.job_dir(job_name, scope=scope)
        status = read_status(job_dir).get("status")
        if status != COMPLETED:
            raise InvalidState(
                f"Job `{job_dir.name}` is {status}; a model can be registered from a completed job only."
            )
        source = self._source(job_dir, path)
        models = Layout.models_dir(workspace)
        model_dir = find_child(models, name) or models / name
        target = model_dir / version
        if target.exists():
            raise AlreadyExists(
                f"Model `{model_dir.name}` already has version {version}.",
                hint=f"Register it as version {self._next_version(model_dir)}.",
            )
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = model_dir / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
        try:
            if source.is_dir():
                shutil.copytree(source, staging)
            else:
                staging.mkdir()
                shutil.copy2(source, staging / source.name)
            try:
                staging.rename(target)
            except OSError:
                raise AlreadyExists(f"Model `{model_dir.name}` already has version {version}.") from None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        meta = {
            "name": model_dir.name,
            "version": version,
            "type": str(type),
            "path": str(target),
            "job_name": job_dir.name,
            "source": str(source),
            "created_at": iso(utcnow()),
        }
        write_json(model_dir / META_DIR / f"{version}.json", meta)
        return self._info(meta)

    def list_versions(self, name: str, *, scope: WorkspaceScope | None = None) -> Sequence[ModelInfo]:
        """Newest (highest) version first, like Azure."""
        validate_model_name(name)
        models = Layout.models_dir(self._layout.workspace_for(scope))
        model_dir = find_child(models, name)
        if model_dir is None or not (model_dir / META_DIR).is_dir():
            existing = sorted(p.name for p in models.iterdir() if (p / META_DIR).is_dir()) if models.is_dir() else []
            raise not_found("model", name, existing)
        metas = [read_json(p) for p in (model_dir / META_DIR).glob("*.json")]
        infos = [self._info(m) for m in metas if m is not None]
        return sorted(infos, key=lambda i: _version_key(i.version), reverse=True)

    @staticmethod
    def _source(job_dir: Path, path: str) -> Path:
        outputs = (job_dir / OUTPUTS_DIR).resolve()
        relative = re.sub(r"^(?:\./|outputs/)", "", path.strip()).strip("/") or "."
        source = (outputs / relative).resolve()
        if source != outputs and outputs not in source.parents:
            raise InvalidInput(f"The model path `{path}` leaves the job's outputs folder.")
        if not source.exists() or (source.is_dir() and not any(source.iterdir())):
            existing = sorted(
                str(p.relative_to(outputs)) for p in outputs.rglob("*") if p.is_file() or any(p.iterdir())
            )
            shown = ", ".join(f"`{e}`" for e in existing[:10]) if existing else "nothing"
            raise NotFound(
                f"Job `{job_dir.name}` has no output `{path}`" + (" (it is empty)." if source.exists() else "."),
                hint=f"Its outputs hold: {shown}.",
            )
        return source

    @staticmethod
    def _next_version(model_dir: Path) -> str:
        numbers = [int(p.stem) for p in (model_dir / META_DIR).glob("*.json") if p.stem.isdigit()]
        return str(max(numbers, default=0) + 1)

    @staticmethod
    def _info(meta: dict[str, Any]) -> ModelInfo:
        return ModelInfo(
            name=str(meta["name"]),
            version=str(meta["version"]),
            type=ModelType(meta.get("type", ModelType.CUSTOM.value)),
            path=str(meta["path"]),
            job_name=meta.get("job_name"),
        )
