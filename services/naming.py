"""Azure naming rules, checked before any call, with the rule spelled out and a name to type instead.

Every `validate_*` function returns the name unchanged when it is valid and raises
`services.errors.InvalidName` otherwise; the message states the rule, the hint suggests a valid name
derived from what the person typed (when one can be derived).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from services.errors import InvalidName
from services.models import JobRequest

__all__ = [
    "NAME_RULES",
    "NameRule",
    "job_name_for",
    "slug",
    "validate_blob_container",
    "validate_compute",
    "validate_job_name",
    "validate_model_name",
    "validate_model_version",
    "validate_name",
    "validate_resource_group",
    "validate_storage_account",
    "validate_workspace",
]


@dataclass(frozen=True)
class NameRule:
    """One kind of Azure name: what it is called, its pattern, the rule in words and how to repair a name."""

    kind: str
    pattern: re.Pattern[str]
    rule: str
    example: str
    suggest: Callable[[str], str]
    extra_check: Callable[[str], bool] | None = None

    def is_valid(self, name: str) -> bool:
        if not self.pattern.fullmatch(name):
            return False
        return self.extra_check(name) if self.extra_check else True


def _pad(text: str, minimum: int, filler: str = "0") -> str:
    return text + filler * (minimum - len(text)) if len(text) < minimum else text


def _suggest_storage(name: str) -> str:
    text = re.sub(r"[^a-z0-9]", "", name.lower())[:24]
    return _pad(text, 3) if text else ""


def _suggest_resource_group(name: str) -> str:
    text = re.sub(r"[^\w.()-]", "-", name, flags=re.ASCII)[:90].rstrip(".")
    return text


def _suggest_workspace(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    text = re.sub(r"^[^A-Za-z0-9]+", "", text)[:33]
    return _pad(text, 3) if text else ""


def _suggest_compute(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9-]", "-", name)
    text = re.sub(r"^[^A-Za-z]+", "", text)[:24]
    return _pad(text, 3) if text else ""


def _suggest_container(name: str) -> str:
    text = re.sub(r"[^a-z0-9-]", "-", name.lower())
    text = re.sub(r"-{2,}", "-", text).strip("-")[:63].rstrip("-")
    return _pad(text, 3) if text else ""


def _suggest_job(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_-]", "-", name)
    text = re.sub(r"^[^A-Za-z]+", "", text)[:255]
    return text


def _suggest_model(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]", "-", name)
    return re.sub(r"^[^A-Za-z0-9]+", "", text)[:255]


NAME_RULES: dict[str, NameRule] = {
    rule.kind: rule
    for rule in (
        NameRule(
            "storage account",
            re.compile(r"[a-z0-9]{3,24}"),
            "must be 3–24 characters, lowercase letters and digits only (no hyphens, dots or capitals)",
            "mlstore01",
            _suggest_storage,
        ),
        NameRule(
            "resource group",
            re.compile(r"[\w.()-]{1,90}", re.ASCII),
            "must be 1–90 characters of letters, digits, `.`, `_`, `-`, `(` or `)`, and must not end with `.`",
            "ml-team-rg",
            _suggest_resource_group,
            lambda name: not name.endswith("."),
        ),
        NameRule(
            "workspace",
            re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}"),
            "must be 3–33 characters of letters, digits, `-` or `_`, starting with a letter or digit",
            "ml-team-ws",
            _suggest_workspace,
        ),
        NameRule(
            "compute",
            re.compile(r"[A-Za-z][A-Za-z0-9-]{2,23}"),
            "must be 3–24 characters of letters, digits and `-`, starting with a letter",
            "cpu-cluster",
            _suggest_compute,
        ),
        NameRule(
            "blob container",
            re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}"),
            "must be 3–63 characters of lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit (no `--`)",
            "training-data",
            _suggest_container,
        ),
        NameRule(
            "job",
            re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,254}"),
            "must start with a letter and contain only letters, digits, `_` and `-` (at most 255 characters)",
            "train-tiny-run1",
            _suggest_job,
        ),
        NameRule(
            "model",
            re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}"),
            "must start with a letter or digit and contain only letters, digits, `.`, `_` and `-` "
            "(at most 255 characters)",
            "tiny-classifier",
            _suggest_model,
        ),
        NameRule(
            "model version",
            re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,29}"),
            "must start with a letter or digit and contain only letters, digits, `.`, `_` and `-` "
            "(at most 30 characters), e.g. `1`",
            "1",
            _suggest_model,
        ),
    )
}


def _shown(name: str) -> str:
    return f"`{name[:80]}…`" if len(name) > 80 else f"`{name}`"


def validate_name(kind: str, name: str) -> str:
    """Check `name` against the rule for `kind` (a key of NAME_RULES); return it or raise InvalidName."""
    rule = NAME_RULES[kind]
    if isinstance(name, str) and rule.is_valid(name):
        return name
    text = name if isinstance(name, str) else str(name)
    suggestion = rule.suggest(text)
    if suggestion and suggestion != text and rule.is_valid(suggestion):
        hint = f"Try `{suggestion}`."
    else:
        hint = f"For example `{rule.example}`."
    shown = _shown(text) if text else "an empty name"
    raise InvalidName(f"{shown} is not a valid {kind} name: a {kind} name {rule.rule}.", hint=hint)


def validate_storage_account(name: str) -> str:
    return validate_name("storage account", name)


def validate_resource_group(name: str) -> str:
    return validate_name("resource group", name)


def validate_workspace(name: str) -> str:
    return validate_name("workspace", name)


def validate_compute(name: str) -> str:
    return validate_name("compute", name)


def validate_blob_container(name: str) -> str:
    return validate_name("blob container", name)


def validate_job_name(name: str) -> str:
    return validate_name("job", name)


def validate_model_name(name: str) -> str:
    return validate_name("model", name)


def validate_model_version(version: str) -> str:
    return validate_name("model version", version)


_SLUG_MAX = 40


def slug(text: str) -> str:
    """A lowercase `[a-z0-9-]` slug of `text` that starts with a letter (`job` when nothing is left)."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower())
    out = re.sub(r"^[^a-z]+", "", out)[:_SLUG_MAX].strip("-")
    return out or "job"


def job_name_for(request: JobRequest) -> str:
    """The job's name: the explicit `request.name` (validated) or `<template-slug>-<10 hex>`.

    The derived name depends only on the template and `request.request_id`, so retrying the same
    request yields the same name and the backend returns the existing job instead of submitting twice.
    """
    if request.name is not None:
        return validate_job_name(request.name)
    digest = hashlib.sha256(request.request_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug(request.template)}-{digest}"
