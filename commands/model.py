"""`/aml model …`: register models from the outputs of finished jobs."""

from __future__ import annotations

import argparse

from commands.common import backend_of
from commands.context import CommandContext, Reply
from commands.parsing import ArgumentParser
from commands.table import CommandTable
from commands.text import escape
from services.errors import AlreadyExists, NotFound
from services.models import ModelInfo, ModelType
from services.naming import validate_job_name, validate_model_name, validate_model_version
from services.ports import Models

SUMMARY = "Register models from job outputs."
TYPES = {"custom": ModelType.CUSTOM, "mlflow": ModelType.MLFLOW}
# Two people registering the same model at once both pick "the next" version; the loser takes the one after.
_AUTO_VERSION_TRIES = 3


def register(table: CommandTable) -> None:
    table.noun("model", SUMMARY)
    table.add("model", "register", register_model, arguments=_register_arguments, slow=True)


def _register_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("job", metavar="JOB")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--path", default="model", metavar="P", help="the job output (folder) holding the model")
    parser.add_argument("--type", choices=tuple(TYPES), default="custom")
    parser.add_argument("--version", metavar="V", help="default: one more than the highest version so far")


def register_model(context: CommandContext, args: argparse.Namespace) -> Reply:
    """Register a model from a completed job's output (version: the next number unless --version).

    Example: `/aml model register train-tiny-1a2b3c4d5e tiny-classifier --path model`.
    """
    job = validate_job_name(args.job)
    name = validate_model_name(args.name)
    explicit = validate_model_version(args.version) if args.version is not None else None
    models = backend_of(context).models

    def attempt(version: str) -> ModelInfo:
        return models.register(job_name=job, name=name, version=version, path=args.path, type=TYPES[args.type])

    if explicit is not None:
        info = attempt(explicit)
    else:
        for tries_left in reversed(range(_AUTO_VERSION_TRIES)):
            try:
                info = attempt(next_version(models, name))
                break
            except AlreadyExists:
                if not tries_left:
                    raise
    return Reply(
        f":white_check_mark: <@{context.invocation.user_id}> registered model `{info.name}` version `{info.version}` "
        f"({args.type}) from output `{escape(args.path)}` of job `{info.job_name or job}`.",
        in_channel=True,
    )


def next_version(models: Models, name: str) -> str:
    """One more than the highest whole-number version of model `name` (1 for a new model)."""
    try:
        versions = models.list_versions(name)
    except NotFound:
        return "1"
    numbers = [int(v.version) for v in versions if v.version.isdigit()]
    return str(max(numbers, default=0) + 1)
