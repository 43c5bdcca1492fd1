"""The job catalog: a folder of Azure ML command job YAML files, shared by the Azure and local backends.

A template's name is its file stem (`hello` for `hello.yml`). Files are parsed with `yaml.safe_load` and
re-read when they change on disk. Nothing here talks to Azure.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from services.errors import InvalidInput

__all__ = [
    "InputSpec",
    "JobCatalog",
    "JobTemplate",
    "PATH_INPUT_TYPES",
    "SCALAR_INPUT_TYPES",
    "format_input_value",
]

SCALAR_INPUT_TYPES = frozenset({"integer", "number", "boolean", "string"})
# Inputs that name data; their values are passed on as strings (a path, a URL or an azureml:// URI).
PATH_INPUT_TYPES = frozenset(
    {"uri_file", "uri_folder", "uri", "mltable", "custom_model", "mlflow_model", "triton_model"}
)
_SCHEMA_HINT = "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json"
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_INT_RE = re.compile(r"[+-]?\d+")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_VALUE_CHARS = 4096


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str
    default: object | None
    optional: bool
    description: str | None


@dataclass(frozen=True)
class JobTemplate:
    """One command job YAML file. `compute` has any `azureml:` prefix removed (`cpu-cluster`)."""

    name: str
    path: Path
    display_name: str | None
    description: str | None
    compute: str | None
    experiment: str | None
    inputs: Mapping[str, InputSpec]
    outputs: tuple[str, ...]
    command: str
    code: Path | None
    # Added beyond the agreed API (defaults keep the positional form working): the environment line as
    # written (e.g. `azureml:AzureML-sklearn-1.5@latest`, ignored locally) and the parsed YAML mapping.
    environment: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def format_input_value(value: object) -> str:
    """How a typed input value is written into a command line (booleans as `true`/`false`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shown(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "…"


def _close(word: str, options: list[str]) -> list[str]:
    lowered = {o.lower(): o for o in options}
    return [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.6)]


class JobCatalog:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._cache: dict[Path, tuple[tuple[int, int], JobTemplate]] = {}

    # ------------------------------------------------------------------ listing and loading
    def _files(self) -> dict[str, Path]:
        if not self.directory.is_dir():
            return {}
        found: dict[str, Path] = {}
        for suffix in (".yml", ".yaml"):  # hello.yml wins over hello.yaml
            for path in sorted(self.directory.glob(f"*{suffix}")):
                if path.is_file() and not path.name.startswith("."):
                    found.setdefault(path.stem, path)
        return found

    def names(self) -> list[str]:
        return sorted(self._files())

    def get(self, name: str) -> JobTemplate:
        files = self._files()
        path = files.get(name)
        if path is None:
            by_lower = {n.lower(): p for n, p in files.items()}
            path = by_lower.get(name.strip().lower())
        if path is None:
            raise self._unknown(name, sorted(files))
        try:
            stat = path.stat()
        except OSError as err:
            raise InvalidInput(f"Could not read the job template `{self._shown_path(path)}`: {err.strerror}.") from None
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached and cached[0] == key:
            return cached[1]
        template = self._load(path)
        self._cache[path] = (key, template)
        return template

    def _unknown(self, name: str, available: list[str]) -> InvalidInput:
        if not available:
            return InvalidInput(
                f"There is no job template `{name}`: the job catalog ({self.directory}) has no templates.",
                hint="Add an Azure ML command job YAML file (e.g. hello.yml) to it.",
            )
        close = _close(name, available)
        message = f"There is no job template `{name}`."
        if close:
            message += " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
        return InvalidInput(message, hint="Available templates: " + ", ".join(f"`{a}`" for a in available) + ".")

    def _shown_path(self, path: Path) -> str:
        return f"{self.directory.name}/{path.name}" if self.directory.name else path.name

    def _load(self, path: Path) -> JobTemplate:
        shown = self._shown_path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InvalidInput(f"Could not read the job template `{shown}`: {err}.") from None
        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as err:
            where = ""
            if err.problem_mark is not None:
                where = f", line {err.problem_mark.line + 1}, column {err.problem_mark.column + 1}"
            problem = err.problem or err.context or "invalid YAML"
            raise InvalidInput(
                f"The job template `{shown}` is not valid YAML{where}: {problem}.",
                hint="Fix the file and try again.",
            ) from None
        except yaml.YAMLError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid YAML"
            raise InvalidInput(f"The job template `{shown}` is not valid YAML: {first}.") from None
        return _parse_template(path.stem, path, data, shown)

    # ------------------------------------------------------------------ inputs
    def validate_overrides(self, template: JobTemplate, overrides: Mapping[str, str]) -> dict[str, object]:
        """Type `--set` values by the inputs the template declares: `{"lr": 0.01}` for `inputs.lr=0.01`."""
        result: dict[str, object] = {}
        seen_as: dict[str, str] = {}
        declared = list(template.inputs)
        for key, value in overrides.items():
            bare = key.strip()
            bare = bare[len("inputs.") :] if bare.startswith("inputs.") else bare
            spec = template.inputs.get(bare)
            if spec is None:
                raise self._undeclared(template, key, declared)
            if bare in seen_as:
                raise InvalidInput(
                    f"`{bare}` is set twice (as `{seen_as[bare]}` and `{key}`).", hint="Set each input once."
                )
            seen_as[bare] = key
            result[bare] = _convert(spec, value)
        return result

    def resolve_inputs(self, template: JobTemplate, overrides: Mapping[str, str]) -> dict[str, object]:
        """Declared defaults updated by the validated overrides; every required input must have a value.

        Added beyond the agreed API; optional inputs without a default and not set are left out.
        """
        values = {n: s.default for n, s in template.inputs.items() if s.default is not None}
        values.update(self.validate_overrides(template, overrides))
        check_required(template, values)
        return values

    @staticmethod
    def _undeclared(template: JobTemplate, key: str, declared: list[str]) -> InvalidInput:
        if not declared:
            return InvalidInput(f"The template `{template.name}` takes no inputs, so `{key}` cannot be set.")
        close = _close(key.removeprefix("inputs."), declared)
        message = f"The template `{template.name}` has no input `{key.removeprefix('inputs.')}`."
        if close:
            message += " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
        listing = ", ".join(f"`{n}` ({template.inputs[n].type})" for n in declared)
        return InvalidInput(message, hint=f"Its inputs: {listing}.")


def check_required(template: JobTemplate, values: Mapping[str, object]) -> None:
    missing = [n for n, s in template.inputs.items() if not s.optional and values.get(n) is None]
    if missing:
        sets = " ".join(f"--set {n}=<{template.inputs[n].type}>" for n in missing)
        raise InvalidInput(
            f"The template `{template.name}` needs a value for " + ", ".join(f"`{n}`" for n in missing) + ".",
            hint=f"Add {sets}.",
        )


def _convert(spec: InputSpec, value: object) -> object:
    text = value if isinstance(value, str) else str(value)
    kind = spec.type
    if "\x00" in text:
        raise InvalidInput(f"{spec.name} must not contain a NUL character.")
    if kind == "integer":
        stripped = text.strip()
        if _INT_RE.fullmatch(stripped):
            return int(stripped)
        raise InvalidInput(f"{spec.name} must be an integer (got '{_shown(text)}').", hint="For example 10.")
    if kind == "number":
        stripped = text.strip()
        if _NUMBER_RE.fullmatch(stripped):
            number = float(stripped)
            if math.isfinite(number):
                return number
        raise InvalidInput(f"{spec.name} must be a number (got '{_shown(text)}').", hint="For example 0.01.")
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidInput(
            f"{spec.name} must be a boolean (got '{_shown(text)}').", hint="Use true/false, yes/no or 1/0."
        )
    # string and the path-like types: any text, within reason
    if len(text) > _MAX_VALUE_CHARS:
        raise InvalidInput(f"{spec.name} is too long ({len(text)} characters; at most {_MAX_VALUE_CHARS}).")
    return text


# ---------------------------------------------------------------------- YAML → JobTemplate
def _infer_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _typed_default(name: str, kind: str, value: object, shown: str) -> object:
    if value is None:
        return None
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in PATH_INPUT_TYPES or kind == "string":
        return str(value)
    spec = InputSpec(name, kind, None, True, None)
    try:
        return _convert(spec, value)
    except InvalidInput as err:
        raise InvalidInput(f"In `{shown}`, the default of input `{name}` is wrong: {err.message}") from None


def _parse_inputs(data: object, shown: str) -> dict[str, InputSpec]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInput(f"In `{shown}`, `inputs` must be a mapping of input names to their definitions.")
    inputs: dict[str, InputSpec] = {}
    for raw_name, definition in data.items():
        name = str(raw_name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InvalidInput(
                f"In `{shown}`, the input name `{name}` is not valid: use letters, digits and `_`, "
                "starting with a letter or `_`."
            )
        if isinstance(definition, Mapping):
            kind = str(definition.get("type") or "")
            if not kind:
                raise InvalidInput(f"In `{shown}`, input `{name}` has no `type`.")
            if kind not in SCALAR_INPUT_TYPES and kind not in PATH_INPUT_TYPES:
                allowed = ", ".join(sorted(SCALAR_INPUT_TYPES | PATH_INPUT_TYPES))
                raise InvalidInput(f"In `{shown}`, input `{name}` has an unknown type `{kind}` (known: {allowed}).")
            default = definition.get("default")
            if default is None and kind in PATH_INPUT_TYPES:
                default = definition.get("path")
            description = definition.get("description")
            inputs[name] = InputSpec(
                name=name,
                type=kind,
                default=_typed_default(name, kind, default, shown),
                optional=bool(definition.get("optional", False)),
                description=str(description) if description is not None else None,
            )
        elif definition is None or isinstance(definition, str | int | float | bool):
            # A literal input (`epochs: 3`) is allowed by Azure ML: the type follows from the value.
            inputs[name] = InputSpec(name, _infer_type(definition), definition, definition is None, None)
        else:
            raise InvalidInput(f"In `{shown}`, input `{name}` must be a value or a mapping with a `type`.")
    return inputs


def _parse_outputs(data: object, shown: str) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise InvalidInput(f"In `{shown}`, `outputs` must be a mapping of output names to their definitions.")
    names = []
    for raw_name in data:
        name = str(raw_name)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InvalidInput(f"In `{shown}`, the output name `{name}` is not valid.")
        names.append(name)
    return tuple(names)


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _parse_template(name: str, path: Path, data: object, shown: str) -> JobTemplate:
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"The job template `{shown}` must be a YAML mapping (an Azure ML command job).",
            hint=f"Start from `$schema: {_SCHEMA_HINT}` and `type: command`.",
        )
    kind = data.get("type", "command")
    if kind != "command":
        raise InvalidInput(f"The job template `{shown}` has `type: {kind}`; only `type: command` jobs are supported.")
    command = data.get("command")
    if not isinstance(command, str) or not command.strip():
        raise InvalidInput(f"The job template `{shown}` has no `command`.", hint="Add e.g. `command: python train.py`.")
    code: Path | None = None
    if data.get("code") is not None:
        code_text = str(data["code"])
        if "://" in code_text or code_text.startswith("azureml:"):
            raise InvalidInput(f"In `{shown}`, `code` must be a local folder relative to the file (got `{code_text}`).")
        code = (path.parent / code_text).resolve()
    compute = _opt_str(data, "compute")
    if compute is not None:
        compute = compute.removeprefix("azureml:")
    environment = data.get("environment")
    return JobTemplate(
        name=name,
        path=path.resolve(),
        display_name=_opt_str(data, "display_name"),
        description=_opt_str(data, "description"),
        compute=compute,
        experiment=_opt_str(data, "experiment_name"),
        inputs=MappingProxyType(_parse_inputs(data.get("inputs"), shown)),
        outputs=_parse_outputs(data.get("outputs"), shown),
        command=command.strip(),
        code=code,
        environment=environment if isinstance(environment, str) else None,
        raw=MappingProxyType(dict(data)),
    )
