"""The job form: `/aml job submit` with nothing after it opens a modal; its submission runs as a typed submit.

Slack's trigger id lasts 3 s, so the slash command's ack path opens a small loading view at once (the one Slack
call made before the ack, with a short timeout) and the pool replaces it with the form (templates from the
catalog, computes from the backend). Choosing a template re-renders the form with that template's inputs.
A submission is checked in the ack path against the catalog only (no backend call): a bad value is answered with
`response_action: errors` under its field; a good one closes the modal and runs, in the pool, exactly as
`/aml job submit TEMPLATE --set …` typed in the channel the form was opened from (same role check, same
handler, same story in that channel, an audit row).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks.job_form import (
    CALLBACK_ID,
    COMPUTE_BLOCK,
    TEMPLATE_ACTION,
    TEMPLATE_BLOCK,
    Choice,
    FormMetadata,
    FormValues,
    JobForm,
    field_errors,
    form_view,
    loading_view,
    message_view,
    read_submission,
)
from bot.work import PoolFull, WorkPool
from commands.context import CommandContext, Invocation, Reply
from commands.errors import UserError
from commands.job import opens_submit_form
from commands.router import Router
from services.audit import COMMAND
from services.errors import Forbidden, InvalidInput
from services.models import WorkspaceScope
from services.redaction import redact, redact_value

logger = logging.getLogger(__name__)

OPEN_TIMEOUT_SECONDS = 2  # the trigger id lasts 3 s and the ack must leave within them too
BUSY = "The bot has too much work queued right now. Nothing was done: try again in a minute."
CANNOT_OPEN = (
    "I could not open the job form just now, so nothing was done. Type the command instead: "
    "`/aml job submit TEMPLATE --set key=value`; `/aml help job` lists the options."
)
FAILED = (
    "Something went wrong on my side while preparing the job form. Close it and type "
    "`/aml job submit TEMPLATE --set key=value` instead."
)


class JobFormFlow:
    """Opens, fills, re-renders and submits the job form."""

    def __init__(self, router: Router, pool: WorkPool, *, open_timeout: int = OPEN_TIMEOUT_SECONDS) -> None:
        self.router = router
        self.services = router.services
        self.pool = pool
        self.open_timeout = open_timeout

    # ---------------------------------------------------------------- opening (the slash command's ack path)

    def open_from_command(self, invocation: Invocation, client: WebClient) -> Reply | None:
        """Open the form for a bare `/aml job submit`; None for any other command (the router takes it)."""
        if not opens_submit_form(invocation.text) or self.services.catalog is None:
            return None
        if not invocation.trigger_id or not self.pool.has_room:
            return Reply(BUSY if invocation.trigger_id else CANNOT_OPEN)
        metadata = FormMetadata(invocation.channel_id)
        quick = WebClient(token=client.token, base_url=client.base_url, timeout=self.open_timeout, retry_handlers=[])
        try:
            opened = quick.views_open(trigger_id=invocation.trigger_id, view=loading_view(metadata))
        except Exception:
            logger.warning("could not open the job form for %s", invocation.user_id, exc_info=True)
            return Reply(CANNOT_OPEN)
        view = opened["view"]
        try:
            self.pool.submit(lambda: self.fill(str(view["id"]), str(view["hash"]), invocation, client))
        except PoolFull:
            return Reply(BUSY)
        return Reply("")

    def fill(self, view_id: str, view_hash: str, invocation: Invocation, client: WebClient) -> None:
        """Replace the loading view with the form (or with why there is none)."""
        metadata = FormMetadata(invocation.channel_id)
        try:
            authorizer = self.services.authorizer
            if authorizer is not None:
                authorizer.check(invocation.user_id, invocation.channel_id, "job.submit")
            view = form_view(self.form(metadata, None))
        except Forbidden as err:
            view = message_view(metadata, str(err))
        except Exception:
            logger.exception("could not prepare the job form")
            view = message_view(metadata, FAILED)
        _update(client, view_id, view_hash, view)

    # ---------------------------------------------------------------- choosing a template

    def template_chosen(self, body: Mapping[str, Any], client: WebClient) -> None:
        """Re-render the form with the chosen template's inputs (in the pool)."""
        view = body.get("view") or {}
        action = next(iter(body.get("actions") or []), None) or {}
        chosen = str((action.get("selected_option") or {}).get("value") or "") or None
        metadata = FormMetadata.decode(view.get("private_metadata"))
        try:
            form = self.form(metadata, chosen, computes=_compute_choices(view))
            rendered = form_view(form)
        except Exception:
            logger.exception("could not re-render the job form")
            rendered = message_view(metadata, FAILED)
        _update(client, str(view.get("id") or ""), str(view.get("hash") or ""), rendered)

    def form(self, metadata: FormMetadata, template: str | None, *, computes: list[Choice] | None = None) -> JobForm:
        catalog = self.services.catalog
        assert catalog is not None
        choices: list[Choice] = []
        problems: list[str] = []
        for name in catalog.names():
            try:
                found = catalog.get(name)
            except InvalidInput as err:
                problems.append(f"{name}: {err.message}")
                continue
            label = f"{name} — {found.display_name}" if found.display_name else name
            choices.append(Choice(name, label, found.description))
        chosen = catalog.get(template) if template else None
        channels = self.services.channels
        defaults = channels.get(metadata.channel) if channels is not None else None
        error = None
        if computes is None:
            computes, error = self._computes(defaults.scope if defaults else None)
        return JobForm(
            metadata=metadata,
            templates=choices,
            template=chosen,
            computes=computes,
            compute_error=error,
            channel_compute=defaults.compute if defaults else None,
            problems=problems,
        )

    def _computes(self, scope: WorkspaceScope | None) -> tuple[list[Choice], str | None]:
        backend = self.services.backend
        if backend is None:
            return [], "This bot has no cloud backend configured."
        try:
            infos = backend.computes.list(scope=scope)
        except Exception as err:
            logger.warning("job form: cannot list computes: %s", err)
            return [], f"I could not list the computes ({err})."
        return [
            Choice(info.name, f"{info.name} ({info.kind.value}, {info.size or 'size unknown'})", f"now {info.state}")
            for info in sorted(infos, key=lambda i: i.name.lower())
        ], None

    # ---------------------------------------------------------------- submitting

    def check(self, view: Mapping[str, Any]) -> tuple[FormValues, dict[str, str]]:
        """The submission's values and its field errors (the ack path: the catalog's files only)."""
        values = read_submission(view)
        catalog = self.services.catalog
        if catalog is None:
            return values, {TEMPLATE_BLOCK: "This bot has no job catalog any more; close the form."}
        try:
            return values, field_errors(values, catalog)
        except Exception:
            logger.exception("could not check a job form submission")
            return values, {TEMPLATE_BLOCK: "I could not check this form just now; try again in a minute."}

    def submit(self, values: FormValues, user: str, view_id: str, client: WebClient) -> None:
        """Run the submission as the typed command would run (in the pool)."""
        words = command_words(values)
        sub, _ = self.router.table.resolve(["job", "submit"])
        invocation = Invocation(
            text=f"job submit {shlex.join(words)}",
            user_id=user,
            channel_id=values.metadata.channel,
            # The view id makes the job request id: the same form submitted twice is the same job.
            trigger_id=f"form:{view_id}",
            command=self.router.table.command,
        )
        try:
            args = sub.parser.parse(words)
        except UserError as err:
            outcome, reply = "invalid", Reply(err.message)
        else:
            reply, outcome = self.router.run(sub, CommandContext(invocation, self.services), args)
        self._audit(invocation, outcome)
        if reply.text or reply.blocks:
            _tell(client, invocation, reply)

    def _audit(self, invocation: Invocation, outcome: str) -> None:
        audit = self.services.audit
        if audit is None:
            return
        try:
            typed = f"{invocation.command} {invocation.text} (from the job form)"
            audit.record(COMMAND, invocation.user_id, invocation.channel_id, typed, outcome)
        except Exception:  # the trail must not cost the person their job
            logger.warning("could not write the audit row of a job form", exc_info=True)


def command_words(values: FormValues) -> list[str]:
    """The `/aml job submit` words the form stands for (options as `--key=value`: a value may start with -)."""
    assert values.template is not None
    words = [values.template]
    if values.compute:
        words.append(f"--compute={values.compute}")
    words += [f"--set={name}={value}" for name, value in values.inputs.items()]
    if values.experiment:
        words.append(f"--experiment={values.experiment}")
    if values.display_name:
        words.append(f"--display-name={values.display_name}")
    return words


def register(app: App, *, router: Router, pool: WorkPool, flow: JobFormFlow | None = None) -> JobFormFlow:
    """The form's own requests; the slash command listener calls `open_from_command` for a bare submit."""
    flow = flow or JobFormFlow(router, pool)

    @app.action(TEMPLATE_ACTION)
    def handle_template_chosen(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        try:
            pool.submit(lambda: flow.template_chosen(body, client))
        except PoolFull:
            logger.warning("work pool full: the job form was not re-rendered")

    @app.view(CALLBACK_ID)
    def handle_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        values, errors = flow.check(view)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        user = str((body.get("user") or {}).get("id") or "")
        try:
            pool.submit(lambda: flow.submit(values, user, str(view.get("id") or ""), client))
        except PoolFull:
            ack(response_action="errors", errors={TEMPLATE_BLOCK: BUSY})
            return
        ack()  # closes the modal; the job's story starts in the channel

    return flow


def _compute_choices(view: Mapping[str, Any]) -> list[Choice] | None:
    """The compute options the form already shows (a template change need not list them again)."""
    for block in view.get("blocks") or []:
        if block.get("block_id") != COMPUTE_BLOCK:
            continue
        options = (block.get("element") or {}).get("options")
        if not options:
            return None  # the form had a text box: the listing failed, try again
        return [
            Choice(
                str(option.get("value")),
                str((option.get("text") or {}).get("text") or option.get("value")),
                (option.get("description") or {}).get("text"),
            )
            for option in options
        ]
    return None


def _update(client: WebClient, view_id: str, view_hash: str, view: dict[str, Any]) -> None:
    try:
        client.views_update(view_id=view_id, hash=view_hash or None, view=view)
    except Exception:  # e.g. hash_conflict: a newer rendering won, or the person closed the form
        logger.info("job form %s was not updated", view_id, exc_info=True)


def _tell(client: WebClient, invocation: Invocation, reply: Reply) -> None:
    """Tell the submitter what became of their form (only they see it), in its channel or else in a DM."""
    text = redact(reply.text)
    blocks = redact_value(list(reply.blocks)) if reply.blocks else None
    try:
        client.chat_postEphemeral(channel=invocation.channel_id, user=invocation.user_id, text=text, blocks=blocks)
        return
    except Exception:
        logger.info("could not answer a job form in %s; sending a DM", invocation.channel_id, exc_info=True)
    try:
        client.chat_postMessage(channel=invocation.user_id, text=text, blocks=blocks)
    except Exception:
        logger.warning("could not tell %s what became of their job form", invocation.user_id, exc_info=True)
