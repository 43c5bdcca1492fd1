"""The one mapping from Azure SDK exceptions to services.errors, and the scrubbing of secrets."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from services.cloud.azure.clients import AzureClients
from services.cloud.azure.errors import (
    azure_errors,
    describe_scope,
    ml_error_summary,
    redact,
    role_for,
    to_service_error,
)
from services.errors import (
    AlreadyExists,
    BackendUnavailable,
    Forbidden,
    InvalidInput,
    InvalidName,
    InvalidState,
    NotFound,
    QuotaExceeded,
    Throttled,
)
from services.models import WorkspaceScope
from tests.services.azure.azure_fakes import SUB, FakeCredential, FakeTransport, arm_error

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def http_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HttpResponseError:
    """A real HttpResponseError built from a response the fake transport produced."""
    from azure.core.pipeline.transport import HttpRequest

    transport = FakeTransport().add("GET", ".", arm_error(status, code, message, headers))
    response = transport.send(HttpRequest("GET", "https://management.azure.com/x"))
    kind = {404: ResourceNotFoundError, 409: ResourceExistsError}.get(status, HttpResponseError)
    from azure.mgmt.core.exceptions import ARMErrorFormat

    return kind(response=response, error_format=ARMErrorFormat)


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (404, "ResourceNotFound", "gone", NotFound),
        (409, "Conflict", "exists", AlreadyExists),
        (400, "QuotaExceeded", "Operation would exceed quota", QuotaExceeded),
        (409, "OperationNotAllowed", "Operation results in exceeding quota limits of Core.", QuotaExceeded),
        (400, "StartComputeInstanceOnlyAllowedInStoppedState", "not stopped", InvalidState),
        (409, "AnotherOperationInProgress", "busy", InvalidState),
        (409, "ResourceGroupBeingDeleted", "being deleted", InvalidState),
        (409, "InvalidResourceGroupLocation", "already exists in another location", InvalidInput),
        (400, "InvalidParameter", "bad size", InvalidInput),
        (500, "InternalServerError", "oops", BackendUnavailable),
        (401, "InvalidAuthenticationToken", "expired", BackendUnavailable),
    ],
)
def test_http_errors_map_to_service_errors(status: int, code: str, message: str, expected: type) -> None:
    assert isinstance(to_service_error(http_error(status, code, message), what="compute `c`"), expected)


def test_throttling_reads_retry_after() -> None:
    error = to_service_error(http_error(429, "TooManyRequests", "slow down", {"Retry-After": "12"}))
    assert isinstance(error, Throttled) and error.retry_after == 12
    assert "Try again in 12 s." in str(error)


def test_forbidden_parses_action_and_scope() -> None:
    message = (
        f"The client 'x' with object id 'y' does not have authorization to perform action "
        f"'Microsoft.MachineLearningServices/workspaces/jobs/write' over scope '/subscriptions/{SUB}/"
        "resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws-bot/jobs/j1' or the "
        "scope is invalid."
    )
    error = to_service_error(http_error(403, "AuthorizationFailed", message), what="job `j1`")
    assert isinstance(error, Forbidden)
    assert error.role == "AzureML Data Scientist on the job `j1`"


@pytest.mark.parametrize(
    ("action", "role"),
    [
        ("Microsoft.Resources/subscriptions/resourcegroups/write", "Contributor"),
        ("Microsoft.Resources/subscriptions/resourcegroups/read", "Reader"),
        ("Microsoft.Authorization/roleAssignments/write", "Owner (or User Access Administrator)"),
        ("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", "Storage Blob Data Contributor"),
        ("Microsoft.MachineLearningServices/workspaces/computes/start/action", "AzureML Data Scientist"),
        ("Microsoft.MachineLearningServices/workspaces/computes/write", "Contributor"),
    ],
)
def test_role_for_action(action: str, role: str) -> None:
    assert role_for(action) == role


def test_describe_scope() -> None:
    assert describe_scope(f"/subscriptions/{SUB}") == "the subscription"
    assert describe_scope(f"/subscriptions/{SUB}/resourcegroups/rg-a") == "the resource group `rg-a`"
    assert (
        describe_scope(f"/subscriptions/{SUB}/resourceGroups/rg-a/providers/Microsoft.Storage/storageAccounts/st1")
        == "the storage account `st1`"
    )


def test_connection_and_sign_in_failures_are_backend_unavailable() -> None:
    assert "Could not reach Azure" in str(to_service_error(ServiceRequestError("connection refused")))
    assert "could not sign in" in str(to_service_error(ClientAuthenticationError("no credential")))


def test_non_azure_exceptions_pass_through() -> None:
    with pytest.raises(KeyError), azure_errors("x"):
        raise KeyError("bug")


@pytest.mark.parametrize(
    "secret",
    [
        f"DefaultEndpointsProtocol=https;AccountName=st;AccountKey={KEY};EndpointSuffix=core.windows.net",
        "https://st.blob.core.windows.net/c/b.txt?sv=2021-08-06&se=2026-01-01&sr=b&sp=r&sig=abc%2Bdef%3D",
        "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwcyJ9.c2lnbmF0dXJl",
        f"key1 {KEY}",
    ],
)
def test_redact_removes_keys_sas_and_tokens(secret: str) -> None:
    cleaned = redact(f"failed: {secret} (see logs)")
    for fragment in ("Eby8vdM02x", "abc%2Bdef", "eyJ0eXAi", "c2lnbmF0dXJl"):
        assert fragment not in cleaned
    assert cleaned.startswith("failed: ") and cleaned.endswith(" (see logs)")


def test_redact_keeps_resource_ids_readable() -> None:
    rid = (
        f"/subscriptions/{SUB}/resourceGroups/rg-bot/providers/Microsoft.Storage/storageAccounts/"
        "testStorageAccountWithAVeryLongNameIndeed"
    )
    assert redact(rid) == rid


def test_error_messages_are_redacted() -> None:
    error = to_service_error(http_error(400, "InvalidRequest", f"Bad connection string AccountKey={KEY}"))
    assert KEY not in str(error) and "AccountKey=***" in str(error)


def test_ml_error_summary_finds_the_field() -> None:
    text = (
        'Validation for CommandSchema failed:\n\n {"result": "Failed", "errors": [{"message": '
        '"Validation for CommandJobSchema failed:\\n\\n {\\"compute\\": [\\"Not a valid string.\\"]} \\n\\n x", '
        '"path": "*"}]} \n\n If you are trying'
    )
    assert ml_error_summary(text) == "compute: Not a valid string."


def test_clients_resolve_scope_validate_names_and_cache_per_scope() -> None:
    clients = AzureClients(
        subscription_id=SUB,
        resource_group="rg-bot",
        workspace="ws-bot",
        location="eastus",
        credential=FakeCredential(),
        client_kwargs={"transport": FakeTransport()},
    )
    default = clients.target(None)
    other = clients.target(WorkspaceScope(subscription_id="sub-2", resource_group="rg-b", workspace="ws-b"))
    assert (default.subscription_id, default.resource_group, default.workspace) == (SUB, "rg-bot", "ws-bot")
    assert (other.subscription_id, other.resource_group, other.workspace) == ("sub-2", "rg-b", "ws-b")
    assert clients.ml(default) is clients.ml(clients.target(WorkspaceScope()))
    assert clients.ml(default) is not clients.ml(other)
    assert clients.resources() is clients.resources(SUB)
    with pytest.raises(InvalidName):
        clients.target(WorkspaceScope(workspace="no spaces allowed"))


def test_an_operation_still_running_after_the_timeout_raises_timeout_error() -> None:
    from services.cloud.azure.operation import PollerOperation

    class SlowPoller:
        def done(self) -> bool:
            return False

        def wait(self, timeout: float | None = None) -> None:
            pass

        def result(self, timeout: float | None = None) -> None:
            raise AssertionError("not finished")

    operation = PollerOperation(SlowPoller(), description="Delete compute `c`", what="compute `c`", finish=str)
    assert not operation.done()
    with pytest.raises(TimeoutError, match="still running"):
        operation.result(timeout=0.01)
