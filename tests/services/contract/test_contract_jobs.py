"""The Jobs port, the same on both backends: submit, idempotency, lifecycle, list, cancel, input checks."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from services.errors import AlreadyExists, InvalidInput, InvalidName, InvalidState, NotFound
from services.models import (
    TAG_REQUEST,
    TAG_SLACK_CHANNEL,
    TAG_SLACK_USER,
    TAG_TEMPLATE,
    JobInfo,
    JobStatus,
)
from services.naming import job_name_for
from services.ports import CloudBackend
from tests.services.contract.conftest import Harness
from tests.services.contract.contract_helpers import (
    DECLARED_INPUTS,
    TEMPLATE,
    completed_job,
    job_request,
    watch,
)

Untouched = Callable[[], AbstractContextManager[None]]


def test_submit_returns_the_deterministic_name_and_the_slack_tags(backend: CloudBackend) -> None:
    request = job_request(requested_by="U0ADA", channel="C0ML", overrides={"word": "contract"})
    info = backend.jobs.submit(request)
    assert isinstance(info, JobInfo)
    assert info.name == job_name_for(request)
    assert info.name.startswith(f"{TEMPLATE}-")
    assert isinstance(info.status, JobStatus) and not info.status.is_terminal
    assert {k: info.tags.get(k) for k in (TAG_SLACK_USER, TAG_SLACK_CHANNEL, TAG_REQUEST, TAG_TEMPLATE)} == {
        TAG_SLACK_USER: "U0ADA",
        TAG_SLACK_CHANNEL: "C0ML",
        TAG_REQUEST: request.request_id,
        TAG_TEMPLATE: TEMPLATE,
    }
    assert info.template == TEMPLATE
    assert (info.display_name, info.experiment, info.compute) == ("Contract job", "contract", "cpu-cluster")
    assert info.output_uri
    again = backend.jobs.get(info.name)
    assert (again.name, dict(again.tags), again.template) == (info.name, dict(info.tags), TEMPLATE)


def test_submit_with_an_explicit_name_uses_it(backend: CloudBackend) -> None:
    request = job_request(name="contract-explicit-1")
    assert backend.jobs.submit(request).name == "contract-explicit-1" == job_name_for(request)


def test_submitting_the_same_request_twice_returns_the_same_job(harness: Harness) -> None:
    jobs = harness.backend.jobs
    request = job_request()
    first = jobs.submit(request)
    second = jobs.submit(request)
    assert second.name == first.name
    assert second.tags[TAG_REQUEST] == request.request_id
    assert harness.job_submissions() == 1  # sent (Azure) or started (local) once
    assert [j.name for j in jobs.list(tag=f"{TAG_REQUEST}={request.request_id}")] == [first.name]


def test_an_explicit_name_taken_by_another_request_is_already_exists(backend: CloudBackend) -> None:
    backend.jobs.submit(job_request(name="contract-taken", request_id="req-first"))
    with pytest.raises(AlreadyExists):
        backend.jobs.submit(job_request(name="contract-taken", request_id="req-second"))


def test_a_job_is_seen_live_then_completed(backend: CloudBackend) -> None:
    submitted = backend.jobs.submit(job_request(overrides={"seconds": "1"}))
    seen = [submitted, *watch(backend, submitted.name)]
    statuses = [i.status for i in seen]
    assert all(isinstance(s, JobStatus) for s in statuses)
    assert all(s.is_terminal == (s in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)) for s in statuses)
    assert statuses[0] in (JobStatus.NOT_STARTED, JobStatus.STARTING, JobStatus.QUEUED, JobStatus.RUNNING)
    assert JobStatus.RUNNING in statuses, statuses
    assert statuses[-1] is JobStatus.COMPLETED
    assert not any(s.is_terminal for s in statuses[:-1])
    running = next(i for i in seen if i.status is JobStatus.RUNNING)
    assert running.started_at is not None and running.ended_at is None
    done = seen[-1]
    assert done.started_at is not None and done.ended_at is not None and done.ended_at >= done.started_at
    assert done.error is None
    assert backend.jobs.get(submitted.name).status is JobStatus.COMPLETED  # and it stays so


def test_list_finds_jobs_by_tag_key_or_key_and_value(backend: CloudBackend) -> None:
    ada = backend.jobs.submit(job_request(requested_by="U0ADA", channel="C0ONE"))
    bob = backend.jobs.submit(job_request(requested_by="U0BOB", channel="C0ONE"))

    def names(tag: str | None = None, limit: int | None = None) -> list[str]:
        return [j.name for j in backend.jobs.list(tag=tag, limit=limit)]

    assert names(f"{TAG_SLACK_USER}=U0ADA") == [ada.name]
    assert names(f"{TAG_SLACK_USER}=U0BOB") == [bob.name]
    assert names(f"{TAG_SLACK_USER}=U0NOBODY") == []
    assert sorted(names(TAG_SLACK_CHANNEL)) == sorted([ada.name, bob.name])
    assert names("no-such-tag") == []
    assert names() == [bob.name, ada.name]  # newest first
    assert names(limit=1) == [bob.name]
    listed = backend.jobs.list(tag=f"{TAG_REQUEST}={ada.tags[TAG_REQUEST]}")[0]
    assert isinstance(listed.status, JobStatus)
    assert (listed.template, listed.tags[TAG_SLACK_CHANNEL]) == (TEMPLATE, "C0ONE")


def test_cancel_a_finished_job_is_invalid_state(backend: CloudBackend) -> None:
    done = completed_job(backend)
    with pytest.raises(InvalidState):
        backend.jobs.cancel(done.name)
    assert backend.jobs.get(done.name).status is JobStatus.COMPLETED


def test_cancel_a_live_job_ends_it_canceled(backend: CloudBackend) -> None:
    submitted = backend.jobs.submit(job_request(overrides={"seconds": "30"}))
    answer = backend.jobs.cancel(submitted.name)
    assert answer.status in (JobStatus.CANCEL_REQUESTED, JobStatus.CANCELED)
    final = watch(backend, submitted.name)[-1]
    assert final.status is JobStatus.CANCELED
    with pytest.raises(InvalidState):
        backend.jobs.cancel(submitted.name)


@pytest.mark.parametrize("operation", ["get", "cancel"])
def test_an_unknown_job_is_not_found(backend: CloudBackend, operation: str) -> None:
    with pytest.raises(NotFound):
        getattr(backend.jobs, operation)("contract-0000000000")


@pytest.mark.parametrize("operation", ["get", "cancel", "log_tail", "rerun"])
def test_an_invalid_job_name_is_refused_before_any_call(
    backend: CloudBackend, untouched: Untouched, operation: str
) -> None:
    calls = {
        "get": lambda: backend.jobs.get("9 lives!"),
        "cancel": lambda: backend.jobs.cancel("9 lives!"),
        "log_tail": lambda: backend.jobs.log_tail("9 lives!"),
        "rerun": lambda: backend.jobs.rerun("9 lives!", request_id="r", requested_by="U", channel="C"),
    }
    with untouched(), pytest.raises(InvalidName):
        calls[operation]()


def test_an_undeclared_input_is_refused_naming_the_declared_ones(harness: Harness) -> None:
    with harness.untouched(), pytest.raises(InvalidInput) as refused:
        harness.backend.jobs.submit(job_request(overrides={"learning_rate": "0.1"}))
    said = str(refused.value)
    assert "learning_rate" in said
    for declared in DECLARED_INPUTS:
        assert f"`{declared}`" in said, said
    assert harness.job_submissions() == 0
    assert harness.backend.jobs.list() == []


@pytest.mark.parametrize(
    ("key", "value"), [("epochs", "ten"), ("epochs", "1.5"), ("seconds", "fast"), ("seconds", "nan")]
)
def test_a_bad_number_is_refused_before_anything_runs(harness: Harness, key: str, value: str) -> None:
    with harness.untouched(), pytest.raises(InvalidInput) as refused:
        harness.backend.jobs.submit(job_request(overrides={key: value}))
    assert key in str(refused.value) and value in str(refused.value)
    assert harness.job_submissions() == 0


def test_an_unknown_template_is_refused_before_anything_runs(harness: Harness) -> None:
    with harness.untouched(), pytest.raises(InvalidInput, match="contrct"):
        harness.backend.jobs.submit(job_request(template="contrct"))
    assert harness.job_submissions() == 0
