"""A catalog template as a job YAML that azure-ai-ml accepts, with the request's input values filled in.

The catalog allows component-style inputs (`epochs: {type: integer, default: 10, description: ...}`),
which the local backend understands but Azure ML's command-job schema rejects (only components declare
typed inputs with defaults). Here scalar inputs become literal values (`epochs: 10`, or the override),
data inputs keep their mapping with `path` set, and the YAML is handed to `load_job` as a stream whose
relative paths (`code: src`) still resolve against the template's folder.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from services.errors import InvalidInput

if TYPE_CHECKING:
    from services.catalog import JobTemplate

SCALAR_TYPES = frozenset({"integer", "number", "boolean", "string"})


def _input(definition: Any, override: Any, has_override: bool) -> Any:
    """One input as azure-ai-ml wants it; None when it has no value (an optional input left unset)."""
    if not isinstance(definition, Mapping):  # already a literal (`epochs: 3`)
        return override if has_override else definition
    kind = str(definition.get("type") or "")
    if kind in SCALAR_TYPES:
        return override if has_override else definition.get("default")
    data = {k: v for k, v in definition.items() if k not in ("default", "optional")}
    path = override if has_override else definition.get("path", definition.get("default"))
    if path is not None:
        data["path"] = str(path)
    return data


def job_yaml(template: JobTemplate, values: Mapping[str, object]) -> dict[str, Any]:
    """The template's YAML mapping with literal inputs and `values` (typed overrides) applied."""
    try:
        document = yaml.safe_load(template.path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise InvalidInput(f"Could not read the job template `{template.name}`: {err}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"The job template `{template.name}` is not a YAML mapping.")
    inputs: dict[str, Any] = {}
    for name, definition in (document.get("inputs") or {}).items():
        value = _input(definition, values.get(name), name in values)
        if value is not None:
            inputs[str(name)] = value
    if inputs:
        document["inputs"] = inputs
    else:
        document.pop("inputs", None)
    return document


def load_template_job(template: JobTemplate, values: Mapping[str, object]) -> Any:
    """An azure.ai.ml Job built from the template (raises the SDK's validation errors as they are)."""
    from azure.ai.ml import load_job

    stream = io.StringIO(yaml.safe_dump(job_yaml(template, values), sort_keys=False))
    # relative_origin is a file path: azure-ai-ml resolves `code:` against its parent folder.
    return load_job(stream, relative_origin=str(template.path))
