"""Resource groups through azure-mgmt-resource 26 with a replaying transport (no network)."""

from __future__ import annotations

import pytest

from services.errors import Forbidden, InvalidInput, InvalidName, NotFound, OperationFailed, Throttled
from tests.services.azure.azure_fakes import (
    ARM,
    RESOURCES,
    SUB,
    Canned,
    FakeTransport,
    arm_error,
    example,
    example_body,
    make_backend,
)

RG_URL = rf"^{ARM}/subscriptions/{SUB}/resourcegroups/rg-team\?"
CREATE = f"{RESOURCES}/2025-04-01/examples/CreateResourceGroup.json"
DELETE = f"{RESOURCES}/2024-03-01/examples/ForceDeleteVMsInResourceGroup.json"


def group_body(name: str = "rg-team", tags: dict[str, str] | None = None) -> dict[str, object]:
    body = example_body(CREATE, "201")
    body["id"] = f"/subscriptions/{SUB}/resourceGroups/{name}"
    body.update({"name": name, "tags": tags or {}})
    return body


def test_create_sends_location_and_tags() -> None:
    transport = FakeTransport().add("PUT", RG_URL, Canned(201, group_body(tags={"owner": "U1"})))
    info = make_backend(transport).resource_groups.create_or_update("rg-team", location="eastus", tags={"owner": "U1"})
    (put,) = transport.sent("PUT")
    assert put.path == f"/subscriptions/{SUB}/resourcegroups/rg-team"
    assert put.api_version == "2025-04-01"
    assert put.json() == {"location": "eastus", "tags": {"owner": "U1"}}
    assert put.headers["Authorization"] == "Bearer fake-token"
    assert (info.name, info.location, dict(info.tags), info.provisioning_state) == (
        "rg-team",
        "eastus",
        {"owner": "U1"},
        "Succeeded",
    )


def test_get_missing_group_is_not_found() -> None:
    transport = FakeTransport().add(
        "GET", RG_URL, arm_error(404, "ResourceGroupNotFound", "Resource group 'rg-team' could not be found.")
    )
    with pytest.raises(NotFound, match="Resource group `rg-team` was not found"):
        make_backend(transport).resource_groups.get("rg-team")


def test_an_existing_group_in_another_location_is_invalid_input() -> None:
    transport = FakeTransport().add(
        "PUT",
        RG_URL,
        arm_error(
            409,
            "InvalidResourceGroupLocation",
            "Invalid resource group location 'westus'. The Resource group already exists in location 'eastus'.",
        ),
    )
    with pytest.raises(InvalidInput, match="already exists in `eastus`; resource groups cannot move") as refused:
        make_backend(transport).resource_groups.create_or_update("rg-team", location="westus")
    assert "cannot change to `westus`" in str(refused.value)
    assert refused.value.hint == "Use location `eastus` or another group name."


def test_invalid_name_is_refused_before_any_call() -> None:
    transport = FakeTransport()
    with pytest.raises(InvalidName):
        make_backend(transport).resource_groups.get("bad name!")
    assert transport.requests == []


def resource(provider_type: str, name: str) -> dict[str, str]:
    rid = f"/subscriptions/{SUB}/resourceGroups/rg-team/providers/{provider_type}/{name}"
    return {"id": rid, "name": name, "type": provider_type, "location": "eastus"}


def test_list_resources_names_each_with_its_type() -> None:
    listing = {
        "value": [
            resource("Microsoft.Storage/storageAccounts", "st1"),
            resource("Microsoft.MachineLearningServices/workspaces", "ws1"),
        ]
    }
    transport = FakeTransport().add("GET", r"/resourcegroups/rg-team/resources\?", Canned(200, listing))
    names = make_backend(transport).resource_groups.list_resources("rg-team")
    assert names == ["st1 (Microsoft.Storage/storageAccounts)", "ws1 (Microsoft.MachineLearningServices/workspaces)"]


def test_begin_delete_returns_at_once_and_polls_the_location() -> None:
    accepted = example(DELETE)["responses"]["202"]["headers"]
    poll = f"/subscriptions/{SUB}/operationresults/"
    transport = (
        FakeTransport()
        .add("DELETE", RG_URL, Canned(202, None, {**accepted, "Retry-After": "0"}))
        .add("GET", poll, Canned(202, None, {**accepted, "Retry-After": "0"}), Canned(200))
    )
    operation = make_backend(transport).resource_groups.begin_delete("rg-team")
    assert "rg-team" in operation.description
    assert operation.result(timeout=5) is None
    assert operation.done()
    (delete,) = transport.sent("DELETE")
    assert delete.api_version == "2025-04-01"
    assert len(transport.sent("GET", "operationresults")) == 2
    assert transport.unmatched == []


def test_failed_delete_operation_raises_operation_failed() -> None:
    poll = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Resources/operationStatuses/del1?api-version=2025-04-01"
    transport = (
        FakeTransport()
        .add("DELETE", RG_URL, Canned(202, None, {"Azure-AsyncOperation": poll, "Retry-After": "0"}))
        .add(
            "GET",
            "operationStatuses/del1",
            Canned(
                200,
                {
                    "status": "Failed",
                    "error": {"code": "ResourceGroupDeletionBlocked", "message": "Deletion blocked by lock 'keep'."},
                },
            ),
        )
    )
    operation = make_backend(transport).resource_groups.begin_delete("rg-team")
    with pytest.raises(OperationFailed, match="Deletion blocked by lock"):
        operation.result(timeout=5)


def test_forbidden_names_the_missing_role() -> None:
    message = (
        "The client 'bot@contoso.com' with object id '1111' does not have authorization to perform action "
        f"'Microsoft.Resources/subscriptions/resourcegroups/write' over scope '/subscriptions/{SUB}/resourcegroups/"
        "rg-team' or the scope is invalid. If access was recently granted, please refresh your credentials."
    )
    transport = FakeTransport().add("PUT", RG_URL, arm_error(403, "AuthorizationFailed", message))
    with pytest.raises(Forbidden) as caught:
        make_backend(transport).resource_groups.create_or_update("rg-team", location="eastus")
    assert caught.value.role == "Contributor on the resource group `rg-team`"
    assert "Contributor on the resource group `rg-team`" in str(caught.value)


def test_throttled_carries_retry_after() -> None:
    transport = FakeTransport().add(
        "GET", RG_URL, arm_error(429, "TooManyRequests", "Rate limit exceeded.", {"Retry-After": "17"})
    )
    with pytest.raises(Throttled) as caught:
        make_backend(transport).resource_groups.get("rg-team")
    assert caught.value.retry_after == 17
    assert "17 s" in str(caught.value)
