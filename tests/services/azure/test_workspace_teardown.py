"""Workspace teardown on the Azure adapter, through the real azure-ai-ml 1.35 and the replaying transport.

The planner's reads and the workspace DELETE go through MLClient's clients and so through the transport. The
dependent resources are deleted by azure-ai-ml itself with ARM clients of its own that ignore the transport
(see `WorkspaceLifecycle`): here its two helpers for that, `delete_resource_by_arm_id` and
`get_generic_arm_resource_by_arm_id`, are replaced by recorders, so everything else in its `begin_delete` is
the SDK's own code deciding what to delete.
"""

from __future__ import annotations

import pytest

from services.errors import Forbidden
from services.teardown import TeardownExecutor, TeardownPlan, TeardownPlanner
from tests.services.azure.azure_fakes import (
    ARM,
    ML_EXAMPLES,
    ML_LOCATION,
    RG,
    WS,
    WS_PATH,
    Canned,
    FakeTransport,
    aml_compute_body,
    example_response,
    make_backend,
    workspace_body,
)
from tests.services.teardown_fakes import approved

WS_URL = rf"^{ARM}{WS_PATH}"
POLL = f"{ML_LOCATION}/workspaceOperationsStatus/d1"


@pytest.fixture
def deleted_by_azure_ml(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ARM ids azure-ai-ml deletes with its own clients (recorded instead of sent)."""
    from azure.ai.ml.operations import _workspace_operations_base as sdk

    deleted: list[str] = []
    monkeypatch.setattr(sdk, "delete_resource_by_arm_id", lambda credentials, sub, arm_id, api: deleted.append(arm_id))
    monkeypatch.setattr(sdk, "get_generic_arm_resource_by_arm_id", lambda *args, **kwargs: None)  # no log analytics
    return deleted


def workspace_routes() -> FakeTransport:
    """The workspace (its dependents are the REST example's), one cluster in it, and its delete (202, then done)."""
    return (
        FakeTransport()
        .add("GET", rf"{WS_URL}\?", Canned(200, workspace_body()))
        .add("GET", rf"{WS_URL}/computes\?", Canned(200, {"value": [aml_compute_body("cpu-cluster")]}))
        .add("DELETE", rf"{WS_URL}\?", example_response(f"{ML_EXAMPLES}/Workspace/delete.json", "202", poll_url=POLL))
        .add("GET", "workspaceOperationsStatus/d1", Canned(200))
    )


def teardown(transport: FakeTransport, *, keep_dependents: bool) -> tuple[TeardownPlan, str]:
    backend = make_backend(transport)
    plan = TeardownPlanner(backend).workspace(WS, resource_group=RG, keep_dependents=keep_dependents)
    return plan, TeardownExecutor(backend)(approved(plan))


def test_teardown_deletes_the_dependents_with_the_workspace(deleted_by_azure_ml: list[str]) -> None:
    transport = workspace_routes()
    plan, done = teardown(transport, keep_dependents=False)
    assert plan.details["resources"] == [
        {"type": "compute cluster", "name": "cpu-cluster"},
        {"type": "storage account", "name": "testStorageAccount"},
        {"type": "key vault", "name": "testkv"},
        {"type": "Application Insights", "name": "testinsights"},
        {"type": "container registry", "name": "testRegistry"},
    ]
    assert sorted(arm_id.rsplit("/", 1)[-1] for arm_id in deleted_by_azure_ml) == [
        "testRegistry",
        "testStorageAccount",
        "testinsights",
        "testkv",
    ]
    (delete,) = transport.sent("DELETE")
    assert delete.path == WS_PATH
    assert transport.unmatched == []
    assert done == (
        f"Deleted workspace `{WS}` (resource group `{RG}`) and its storage account `testStorageAccount`, "
        "key vault `testkv`, Application Insights `testinsights` and container registry `testRegistry`. "
        "Its compute went with it: `cpu-cluster`."
    )


def test_keep_dependents_deletes_only_the_workspace(deleted_by_azure_ml: list[str]) -> None:
    transport = workspace_routes()
    plan, done = teardown(transport, keep_dependents=True)
    assert plan.details["resources"] == [{"type": "compute cluster", "name": "cpu-cluster"}]
    assert deleted_by_azure_ml == []
    (delete,) = transport.sent("DELETE")
    assert (delete.path, delete.query["forceToPurge"]) == (WS_PATH, "false")
    assert transport.unmatched == []
    assert done == (
        f"Deleted workspace `{WS}` (resource group `{RG}`). Its compute went with it: `cpu-cluster`. "
        "Kept, as asked: storage account `testStorageAccount`, key vault `testkv`, "
        "Application Insights `testinsights` and container registry `testRegistry`."
    )


def test_a_refused_delete_is_reported_in_plain_words(deleted_by_azure_ml: list[str]) -> None:
    transport = workspace_routes().add(
        "DELETE",
        rf"{WS_URL}\?",
        Canned(403, {"error": {"code": "AuthorizationFailed", "message": "The client does not have authorization."}}),
    )
    backend = make_backend(transport)
    plan = TeardownPlanner(backend).workspace(WS, resource_group=RG, keep_dependents=True)
    with pytest.raises(Forbidden) as failed:
        TeardownExecutor(backend)(approved(plan))
    assert str(failed.value).startswith(
        f"The bot's Azure identity is not allowed to access workspace `{WS}` (AuthorizationFailed)."
    )
