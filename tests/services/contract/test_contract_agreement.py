"""Calls where the port leaves the answer open, but both backends must give the same one.

Each case makes the same port call on both backends (built side by side by the `both` fixture) and
compares what happened: the value's kind or the ServiceError raised. A case whose backends disagree today
is a known difference (a bug to fix in one of them) and is marked as a strict expected failure.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.ports import CloudBackend
from tests.services.contract.conftest import Harness
from tests.services.contract.contract_helpers import completed_job, outcome


def _versions_order(backend: CloudBackend) -> list[str]:
    job = completed_job(backend)
    for version in ("1", "10", "2"):
        backend.models.register(job_name=job.name, name="contract-model", version=version)
    return [v.version for v in backend.models.list_versions("contract-model")]


def _relocate_group(backend: CloudBackend) -> str:
    backend.resource_groups.create_or_update("rg-contract", location="eastus")
    return outcome(lambda: backend.resource_groups.create_or_update("rg-contract", location="westeurope"))


CASES: dict[str, Callable[[CloudBackend], object]] = {
    "start-a-cluster": lambda b: outcome(lambda: b.computes.begin_start("cpu-cluster").result(timeout=10)),
    "stop-a-cluster": lambda b: outcome(lambda: b.computes.begin_stop("cpu-cluster").result(timeout=10)),
    "stop-a-stopped-instance": lambda b: outcome(lambda: b.computes.begin_stop("dev-instance").result(timeout=10)),
    "scale-an-instance-to-zero": lambda b: outcome(
        lambda: b.computes.begin_scale_to_zero("dev-instance").result(timeout=10)
    ),
    "scale-a-cluster-at-zero-to-zero": lambda b: outcome(
        lambda: b.computes.begin_scale_to_zero("cpu-cluster").result(timeout=10)
    ),
    "resource-group-in-another-location": _relocate_group,
    "model-versions-order": _versions_order,
}

# Cases whose backends disagree today (bugs to fix): case → where and why; each is a strict expected failure.
DIFFERENT: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=DIFFERENT[case])) if case in DIFFERENT else case
        for case in CASES
    ],
)
def test_both_backends_answer_alike(both: dict[str, Harness], case: str) -> None:
    answers = {kind: CASES[case](harness.backend) for kind, harness in both.items()}
    assert answers["local"] == answers["azure"], answers
