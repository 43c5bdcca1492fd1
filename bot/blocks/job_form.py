"""Block Kit for the job form (`/aml job submit` with nothing after it), and reading what was submitted.

Views are built with slack_sdk's models (validated when serialised), within a modal's 100 blocks. The form:
a template picker (choosing one re-renders the form with its inputs: `dispatch_action`), one text input per
declared input with its default filled in, a compute picker (blank: the channel's default, else the
template's), experiment and display name. Each template input's block id names its template, so Slack keeps
what was typed only while the template stays the same.

`private_metadata` carries the channel the command came from (the job's story goes there) and the template
whose inputs the form shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks.home import fit
from commands.blocks import context, section
from commands.text import escape
from services.catalog import InputSpec, JobCatalog, JobTemplate, check_required, format_input_value
from services.errors import InvalidInput

CALLBACK_ID = "job_form.submit"
TEMPLATE_BLOCK = TEMPLATE_ACTION = "job_form.template"
COMPUTE_BLOCK = COMPUTE_ACTION = "job_form.compute"
EXPERIMENT_BLOCK = "job_form.experiment"
DISPLAY_NAME_BLOCK = "job_form.display_name"
INPUT_PREFIX = "job_form.input"
VALUE_ACTION = "value"

TITLE = "Submit a job"
MAX_VIEW_BLOCKS = 100
MAX_OPTIONS = 100  # a static select holds at most 100 options
MAX_INPUTS = 80  # leaves room for the form's other blocks
MAX_ERROR = 300
NAME_MAX = 255


@dataclass(frozen=True)
class FormMetadata:
    """What the form carries between Slack's requests (its `private_metadata`)."""

    channel: str
    template: str | None = None

    def encode(self) -> str:
        return json.dumps({"channel": self.channel, "template": self.template})

    @classmethod
    def decode(cls, text: str | None) -> FormMetadata:
        try:
            data = json.loads(text or "{}")
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        template = data.get("template")
        return cls(str(data.get("channel") or ""), str(template) if template else None)


@dataclass(frozen=True)
class Choice:
    """One option of a picker: the value sent back and the words shown."""

    value: str
    label: str
    description: str | None = None


@dataclass(frozen=True)
class JobForm:
    """Everything the form shows."""

    metadata: FormMetadata
    templates: Sequence[Choice]
    template: JobTemplate | None = None
    computes: Sequence[Choice] = ()
    compute_error: str | None = None  # the backend could not list them: a text box instead of a picker
    channel_compute: str | None = None  # the channel's default (`/aml config set compute`)
    problems: Sequence[str] = ()  # templates left out because they cannot be read


@dataclass(frozen=True)
class FormValues:
    """What a submission holds (blanks left out)."""

    metadata: FormMetadata
    template: str | None
    compute: str | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)
    experiment: str | None = None
    display_name: str | None = None


# ------------------------------------------------------------------------------------------------ views


def loading_view(metadata: FormMetadata) -> dict[str, Any]:
    """What opens at once (the trigger id lasts 3 s); the real form replaces it."""
    return message_view(metadata, ":hourglass_flowing_sand: Loading the job templates and the computes…")


def message_view(metadata: FormMetadata, text: str) -> dict[str, Any]:
    """A modal that only says something (a refusal, a failure): no Submit button."""
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=PlainTextObject(text=TITLE),
        close=PlainTextObject(text="Close"),
        private_metadata=metadata.encode(),
        blocks=[section(text)],
    ).to_dict()


def form_view(form: JobForm) -> dict[str, Any]:
    template = form.template
    metadata = FormMetadata(form.metadata.channel, template.name if template else None)
    blocks: list[Block] = [
        context(f"The job's story goes to <#{metadata.channel}>, as for a typed `/aml job submit`."),
        _template_picker(form),
    ]
    if form.problems:
        blocks.append(context("Left out: " + "; ".join(escape(p, 200) for p in form.problems[:5])))
    if template is None:
        blocks.append(context("Choose a template to see its inputs."))
    else:
        if template.description:
            blocks.append(context(escape(template.description, 500)))
        blocks += _inputs(template)
    blocks.append(_compute_picker(form))
    experiment = template.experiment or template.name if template else None
    display_name = template.display_name if template else None
    blocks.append(_text_input(EXPERIMENT_BLOCK, "Experiment", _blank_means(experiment)))
    blocks.append(_text_input(DISPLAY_NAME_BLOCK, "Display name", _blank_means(display_name)))
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=PlainTextObject(text=TITLE),
        submit=PlainTextObject(text="Submit"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata.encode(),
        blocks=fit(blocks, MAX_VIEW_BLOCKS),
    ).to_dict()


def input_block_id(template: str, name: str) -> str:
    return f"{INPUT_PREFIX}.{template}.{name}"[:255]


def _template_picker(form: JobForm) -> InputBlock:
    options = [_option(choice) for choice in form.templates[:MAX_OPTIONS]]
    chosen = _chosen(options, form.template.name if form.template else None)
    more = len(form.templates) - len(options)
    return InputBlock(
        block_id=TEMPLATE_BLOCK,
        label=PlainTextObject(text="Template"),
        element=StaticSelectElement(
            action_id=TEMPLATE_ACTION,
            placeholder=PlainTextObject(text="Choose a template"),
            options=options,
            initial_option=chosen,
        ),
        hint=PlainTextObject(text=f"…and {more} more: type /aml job submit NAME for those.") if more else None,
        dispatch_action=True,  # choosing one re-renders the form with its inputs
    )


def _inputs(template: JobTemplate) -> list[Block]:
    specs = list(template.inputs.values())
    if not specs:
        return [context("This template takes no inputs.")]
    blocks: list[Block] = []
    for spec in specs[:MAX_INPUTS]:
        default = None if spec.default is None else format_input_value(spec.default)
        blocks.append(
            InputBlock(
                block_id=input_block_id(template.name, spec.name),
                label=PlainTextObject(text=spec.name),
                element=PlainTextInputElement(action_id=VALUE_ACTION, initial_value=default),
                hint=PlainTextObject(text=_input_hint(spec)),
                # Only inputs the template declares optional may be left blank (Slack checks that first).
                optional=spec.optional,
            )
        )
    if len(specs) > MAX_INPUTS:
        blocks.append(
            context(f"…and {len(specs) - MAX_INPUTS} more inputs keep their defaults; set them with `--set` instead.")
        )
    return blocks


def _input_hint(spec: InputSpec) -> str:
    words = [spec.type]
    words.append(f"default {format_input_value(spec.default)}" if spec.default is not None else "required")
    if spec.optional and spec.default is None:
        words[-1] = "optional"
    if spec.description:
        words.append(spec.description)
    return _cut(" · ".join(words), 2000)


def _compute_picker(form: JobForm) -> InputBlock:
    fallback = form.channel_compute or (form.template.compute if form.template else None)
    hint = f"Blank: {fallback}." if fallback else "Blank: the template's compute."
    if form.compute_error is not None or not form.computes:
        why = form.compute_error or "No compute was found."
        return _text_input(COMPUTE_BLOCK, "Compute", f"{_cut(why, 500)} Type a compute name. {hint}", COMPUTE_ACTION)
    options = [_option(choice) for choice in form.computes[:MAX_OPTIONS]]
    chosen = _chosen(options, form.channel_compute)
    return InputBlock(
        block_id=COMPUTE_BLOCK,
        label=PlainTextObject(text="Compute"),
        element=StaticSelectElement(
            action_id=COMPUTE_ACTION,
            placeholder=PlainTextObject(text="Choose a compute"),
            options=options,
            initial_option=chosen,
        ),
        hint=PlainTextObject(text=hint),
        optional=True,
    )


def _text_input(block_id: str, label: str, hint: str, action_id: str = VALUE_ACTION) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=PlainTextObject(text=label),
        element=PlainTextInputElement(action_id=action_id, max_length=NAME_MAX),
        hint=PlainTextObject(text=hint),
        optional=True,
    )


def _blank_means(value: str | None) -> str:
    return f"Blank: {_cut(value, 200)}." if value else "Blank: the template's."


def _chosen(options: Sequence[Option], value: str | None) -> Option | None:
    return next((option for option in options if value is not None and option.value == value), None)


def _option(choice: Choice) -> Option:
    return Option(
        value=choice.value[:150],
        label=_cut(choice.label, 75),
        description=_cut(choice.description, 75) if choice.description else None,
    )


# ------------------------------------------------------------------------------------------------ submissions


def read_submission(view: Mapping[str, Any]) -> FormValues:
    """The values of a submitted form (`view` as in the view_submission payload)."""
    metadata = FormMetadata.decode(view.get("private_metadata"))
    values: Mapping[str, Any] = (view.get("state") or {}).get("values") or {}
    template = _value(values, TEMPLATE_BLOCK, TEMPLATE_ACTION)
    inputs: dict[str, str] = {}
    if template:
        prefix = input_block_id(template, "")
        for block_id in values:
            if block_id.startswith(prefix):
                text = _value(values, block_id, VALUE_ACTION)
                if text is not None:
                    inputs[block_id[len(prefix) :]] = text
    return FormValues(
        metadata=metadata,
        template=template,
        compute=_value(values, COMPUTE_BLOCK, COMPUTE_ACTION),
        inputs=inputs,
        experiment=_value(values, EXPERIMENT_BLOCK, VALUE_ACTION),
        display_name=_value(values, DISPLAY_NAME_BLOCK, VALUE_ACTION),
    )


def field_errors(values: FormValues, catalog: JobCatalog) -> dict[str, str]:
    """Per-block errors of a submission (empty: it may be submitted). Local and cheap: the catalog's YAML only."""
    if not values.template:
        return {TEMPLATE_BLOCK: "Choose a template."}
    try:
        template = catalog.get(values.template)
    except InvalidInput as err:
        return {TEMPLATE_BLOCK: _plain(str(err))}
    if values.metadata.template != template.name:
        shown = f"{values.metadata.template}'s" if values.metadata.template else "no"
        return {TEMPLATE_BLOCK: f"The form shows {shown} inputs: wait a moment for {template.name}'s, then submit."}
    errors: dict[str, str] = {}
    typed: dict[str, object] = {n: s.default for n, s in template.inputs.items() if s.default is not None}
    for name, text in values.inputs.items():
        try:
            typed.update(catalog.validate_overrides(template, {name: text}))
        except InvalidInput as err:
            errors[input_block_id(template.name, name)] = _plain(str(err))
    if not errors:
        try:
            check_required(template, typed)
        except InvalidInput:
            for name, spec in template.inputs.items():
                if not spec.optional and typed.get(name) is None:
                    errors[input_block_id(template.name, name)] = f"{name} needs a value ({spec.type})."
    return errors


def _value(values: Mapping[str, Any], block_id: str, action_id: str) -> str | None:
    state = (values.get(block_id) or {}).get(action_id) or {}
    if state.get("type") == "static_select":
        selected = state.get("selected_option") or {}
        value = selected.get("value")
    else:
        value = state.get("value")
    text = str(value).strip() if value is not None else ""
    return text or None


def _plain(text: str) -> str:
    """An error shown under a field: plain text (Slack shows no markup there), cut short."""
    return _cut(text.replace("`", ""), MAX_ERROR)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
