"""The job form through the local workspace and the real HTTP path: `/aml job submit` alone opens a loading
view then the form; choosing a template shows its inputs; a bad value is answered under its field; a good
submission runs as the typed command, with its story in the channel the form came from."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.blocks.job_form import COMPUTE_BLOCK, DISPLAY_NAME_BLOCK, TEMPLATE_BLOCK, input_block_id
from bot.bootstrap import build_services
from bot.devslack import View, render_view
from bot.devslack.surfaces import elements, initial_value
from bot.settings import Settings
from services.container import Services
from services.rbac import Authorizer, PermissionConfig
from tests.conftest import RunningBot

ROOT = Path(__file__).parents[2]
CHANNEL = "C_ML"
TIMEOUT = 60.0
PERMISSIONS = {"roles": {"operator": {"users": ["U_ALICE", "U_BOB"]}}, "default_role": "viewer"}
EPOCHS = input_block_id("train-tiny", "epochs")


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], tmp_path: Path) -> RunningBot:
    def services(settings: Settings) -> Services:
        built = build_services(settings)
        authorizer = Authorizer(PermissionConfig.from_mapping(PERMISSIONS))
        return dataclasses.replace(built, authorizer=authorizer, leader=None)

    return start_bot(services=services, data_dir=str(tmp_path / "data"), job_catalog_dir=str(ROOT / "jobs"))


def form_of(running: RunningBot, user: str = "U_ALICE") -> View:
    modal = running.driver.modal(user)
    assert modal is not None, "no modal is open"
    return modal


def inputs_of(view: View) -> dict[str, str | None]:
    """Input block id → what it shows before anyone types."""
    return {e.block_id: initial_value(e.element) for e in elements(view) if e.block.get("type") == "input"}


def open_form(running: RunningBot, user: str = "U_ALICE") -> View:
    response = running.driver.slash("job submit", user=user, channel=CHANNEL)
    assert response.status == 200 and response.acked_in_time, response
    assert not response.body or not (response.json() or {}).get("text"), f"no message, a form: {response.body}"
    assert running.workspace.wait_until(
        lambda: running.driver.modal(user) is not None and TEMPLATE_BLOCK in inputs_of(form_of(running, user)),
        TIMEOUT,
    ), "the form never replaced the loading view"
    return form_of(running, user)


def choose(running: RunningBot, template: str, user: str = "U_ALICE") -> View:
    response = running.driver.choose_in_view(user, template, block_id=TEMPLATE_BLOCK)
    assert response.status == 200 and response.acked_in_time
    assert running.workspace.wait_until(
        lambda: any(key.startswith(input_block_id(template, "")) for key in inputs_of(form_of(running, user))), TIMEOUT
    ), f"{template}'s inputs never appeared"
    return form_of(running, user)


def test_a_bare_submit_opens_a_loading_view_at_once_then_the_form(running: RunningBot) -> None:
    form = open_form(running)
    [opened] = running.workspace.calls("views.open")
    assert "Loading the job templates" in json.dumps(opened.params["view"]), "the loading view opened at once"
    assert running.workspace.calls("views.update"), "the form replaced it in place"
    shown = render_view(running.workspace, form)
    assert "Template: [▾ Choose a template]" in shown
    assert "train-tiny — Train a tiny classifier" in shown and "hello — Hello" in shown
    assert "Compute (optional): [▾ Choose a compute]" in shown and "cpu-cluster (cluster, Standard_DS3_v2)" in shown
    assert "Choose a template to see its inputs." in shown
    assert "[Cancel] [Submit]" in shown


def test_choosing_a_template_shows_its_inputs_with_their_defaults(running: RunningBot) -> None:
    open_form(running)
    form = choose(running, "train-tiny")
    values = inputs_of(form)
    assert values[TEMPLATE_BLOCK] == "train-tiny"
    assert {key: values[input_block_id("train-tiny", key)] for key in ("epochs", "lr", "seed")} == {
        "epochs": "10",
        "lr": "0.5",
        "seed": "7",
    }
    shown = render_view(running.workspace, form)
    assert "integer · default 10 · Passes over the data." in shown
    assert "Experiment (optional): [ ]" in shown and "Blank: train-tiny." in shown

    form = choose(running, "hello")
    assert input_block_id("hello", "name") in inputs_of(form)
    assert not any(key.startswith(input_block_id("train-tiny", "")) for key in inputs_of(form))


def test_a_bad_value_is_answered_under_its_field_and_nothing_is_submitted(running: RunningBot) -> None:
    open_form(running)
    choose(running, "train-tiny")
    response = running.driver.submit_view("U_ALICE", values={EPOCHS: "three"})
    assert response.status == 200 and response.acked_in_time
    assert response.json() == {
        "response_action": "errors",
        "errors": {EPOCHS: "epochs must be an integer (got 'three'). For example 10."},
    }
    assert running.driver.modal("U_ALICE") is not None, "the form stays open for a fix"
    assert running.bot.pool.wait_idle(TIMEOUT)
    assert running.workspace.messages(CHANNEL) == [], "nothing was posted"
    backend = running.bot.services.backend
    assert backend is not None and backend.jobs.list() == [], "nothing was submitted"


def test_a_good_submission_runs_the_job_with_the_chosen_values_in_the_channel(running: RunningBot) -> None:
    open_form(running)
    choose(running, "train-tiny")
    response = running.driver.submit_view(
        "U_ALICE",
        values={EPOCHS: "3", COMPUTE_BLOCK: "cpu-cluster", DISPLAY_NAME_BLOCK: "three epochs"},
    )
    assert response.status == 200 and response.acked_in_time and not response.body, response.body
    assert running.driver.modal("U_ALICE") is None, "the form closed"

    def root() -> str:
        return "\n".join(json.dumps(m.blocks) for m in running.workspace.messages(CHANNEL))

    assert running.workspace.wait_until(lambda: "three epochs" in root() and "Completed" in root(), TIMEOUT), root()
    assert "template `train-tiny`" in root() and "compute `cpu-cluster`" in root() and "<@U_ALICE>" in root()
    backend = running.bot.services.backend
    assert backend is not None
    [job] = backend.jobs.list()
    assert {m.step for m in backend.jobs.metrics(job.name) if m.key == "loss"} == {0, 1, 2}, "ran 3 epochs"
    audit = running.bot.services.audit
    assert audit is not None
    assert any(
        "job submit train-tiny --compute=cpu-cluster --set=epochs=3" in entry.text and entry.outcome == "ok"
        for entry in audit.recent(limit=10)
    )


def test_a_person_without_the_role_gets_the_refusal_in_the_form(running: RunningBot) -> None:
    running.driver.slash("job submit", user="U_CAROL", channel=CHANNEL)
    assert running.workspace.wait_until(
        lambda: "needs the operator role" in json.dumps(form_of(running, "U_CAROL").definition), TIMEOUT
    )
    assert "[Close]" in render_view(running.workspace, form_of(running, "U_CAROL")), "no Submit button"


def test_when_the_form_cannot_open_the_person_is_told_what_to_type(running: RunningBot) -> None:
    running.slack.inject_fault("views.open", error="expired_trigger_id")
    response = running.driver.slash("job submit", user="U_ALICE", channel=CHANNEL)
    assert response.status == 200 and response.acked_in_time
    body = response.json()
    assert body is not None and body["text"].startswith("I could not open the job form just now")
    assert "`/aml job submit TEMPLATE --set key=value`" in body["text"]


def test_a_submit_with_a_template_still_runs_without_a_form(running: RunningBot) -> None:
    running.driver.slash("job submit hello", user="U_ALICE", channel=CHANNEL)
    assert running.bot.pool.wait_idle(TIMEOUT)
    assert running.workspace.calls("views.open") == []
    assert running.workspace.wait_until(lambda: running.workspace.messages(CHANNEL) != [], TIMEOUT)
