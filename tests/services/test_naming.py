"""Azure naming rules: checked before any call, with the rule and a name to type instead."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.errors import InvalidName
from services.models import JobRequest
from services.naming import (
    NAME_RULES,
    job_name_for,
    validate_blob_container,
    validate_compute,
    validate_job_name,
    validate_name,
    validate_resource_group,
    validate_storage_account,
    validate_workspace,
)

CASES = {
    validate_storage_account: (
        ["abc", "mlstore01", "a" * 24],
        ["ab", "a" * 25, "ML-store", "ml_store", "mlstöre", ""],
    ),
    validate_resource_group: (
        ["r", "ml-team_rg.(prod)", "a" * 90, "a.b"],
        ["", "a" * 91, "ends.", "has space", "slash/rg"],
    ),
    validate_workspace: (
        ["abc", "ml-team_ws", "9lives", "a" * 33],
        ["ab", "a" * 34, "-ws", "_ws", "ws.one", "ws one"],
    ),
    validate_compute: (
        ["cpu", "cpu-cluster", "A" + "b" * 23],
        ["cp", "1cpu", "-cpu", "cpu_cluster", "c" * 25, "cpu.cluster"],
    ),
    validate_blob_container: (
        ["abc", "raw-data", "a1-b2-c3", "a" * 63],
        ["ab", "Raw", "raw--data", "-raw", "raw-", "a" * 64, "raw_data"],
    ),
    validate_job_name: (
        ["a", "train-tiny_1", "A" * 255],
        ["1abc", "-abc", "has space", "a" * 256, "a.b", ""],
    ),
}


@pytest.mark.parametrize(
    ("check", "name", "ok"),
    [(check, name, True) for check, (good, _) in CASES.items() for name in good]
    + [(check, name, False) for check, (_, bad) in CASES.items() for name in bad],
)
def test_rules(check: object, name: str, ok: bool) -> None:
    assert callable(check)
    if ok:
        assert check(name) == name
    else:
        with pytest.raises(InvalidName):
            check(name)


def test_message_spells_out_the_rule_and_what_to_type() -> None:
    with pytest.raises(InvalidName) as err:
        validate_storage_account("My_Storage-01")
    assert err.value.message == (
        "`My_Storage-01` is not a valid storage account name: a storage account name must be 3–24 characters, "
        "lowercase letters and digits only (no hyphens, dots or capitals)."
    )
    assert err.value.hint == "Try `mystorage01`."
    with pytest.raises(InvalidName, match="no `--`") as container:
        validate_blob_container("Raw--Data")
    assert container.value.hint == "Try `raw-data`."
    with pytest.raises(InvalidName) as empty:
        validate_workspace("")
    assert "an empty name" in str(empty.value) and "For example `ml-team-ws`" in str(empty.value)


@given(kind=st.sampled_from(sorted(NAME_RULES)), text=st.text(max_size=300))
def test_a_suggested_name_is_always_valid(kind: str, text: str) -> None:
    try:
        validate_name(kind, text)
    except InvalidName as err:
        assert err.hint is not None
        suggested = re.fullmatch(r"(?:Try|For example) `(.*)`\.", err.hint, re.DOTALL)
        assert suggested is not None
        assert validate_name(kind, suggested.group(1)) == suggested.group(1)


def _request(template: str, request_id: str, name: str | None = None) -> JobRequest:
    return JobRequest(template=template, request_id=request_id, requested_by="U1", channel="C1", name=name)


def test_job_name_is_explicit_or_derived() -> None:
    assert job_name_for(_request("hello", "r1", name="my-run")) == "my-run"
    with pytest.raises(InvalidName, match="must start with a letter"):
        job_name_for(_request("hello", "r1", name="1-run"))
    derived = job_name_for(_request("Train Tiny!", "r1"))
    assert re.fullmatch(r"train-tiny-[0-9a-f]{10}", derived)
    assert job_name_for(_request("123", "r1")).startswith("job-")


@given(template=st.text(max_size=200), request_id=st.text(max_size=200))
def test_derived_job_names_are_deterministic_and_always_valid(template: str, request_id: str) -> None:
    name = job_name_for(_request(template, request_id))
    assert name == job_name_for(_request(template, request_id))
    assert validate_job_name(name) == name


@given(request_ids=st.lists(st.text(max_size=50), min_size=2, max_size=2, unique=True))
def test_different_requests_get_different_names(request_ids: list[str]) -> None:
    first, second = (job_name_for(_request("hello", r)) for r in request_ids)
    assert first != second
