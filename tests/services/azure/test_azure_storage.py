"""Storage accounts and containers through azure-mgmt-storage 25 (management plane), replayed offline."""

from __future__ import annotations

import logging

import pytest

from services.errors import AlreadyExists, InvalidName, NameTaken, OperationFailed, QuotaExceeded, Throttled
from tests.services.azure.azure_fakes import (
    ARM,
    STORAGE,
    SUB,
    Canned,
    FakeTransport,
    arm_error,
    example_body,
    example_response,
    make_backend,
)

API = "2026-09-01"  # what azure-mgmt-storage 25.3.0 sends (the examples are from 2025-08-01)
ACCOUNT = rf"^{ARM}/subscriptions/{SUB}/resourceGroups/rg-team/providers/Microsoft\.Storage/storageAccounts/stteam01"
OPERATIONS = f"{ARM}/subscriptions/{SUB}/providers/Microsoft.Storage/locations/eastus/asyncoperations"
FAKE_KEY = "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYg=="


def account_body() -> dict[str, object]:
    body = example_body(f"{STORAGE}/StorageAccountGetProperties.json")
    body["id"] = f"/subscriptions/{SUB}/resourceGroups/rg-team/providers/Microsoft.Storage/storageAccounts/stteam01"
    body["name"] = "stteam01"
    body["location"] = "eastus"
    body["kind"] = "StorageV2"
    body["sku"] = {"name": "Standard_LRS", "tier": "Standard"}
    body["properties"]["primaryEndpoints"]["blob"] = "https://stteam01.blob.core.windows.net/"  # type: ignore[index]
    return body


def test_check_name_reports_the_reason_when_taken() -> None:
    transport = FakeTransport().add(
        "POST",
        r"/providers/Microsoft\.Storage/checkNameAvailability\?",
        Canned(
            200,
            {
                "nameAvailable": False,
                "reason": "AlreadyExists",
                "message": "The storage account named stteam01 is already taken.",
            },
        ),
    )
    availability = make_backend(transport).storage.check_name("stteam01")
    assert (availability.available, availability.reason) == (False, "AlreadyExists")
    assert availability.message == "The storage account named stteam01 is already taken."
    (post,) = transport.requests
    assert post.path == f"/subscriptions/{SUB}/providers/Microsoft.Storage/checkNameAvailability"
    assert post.api_version == API
    assert post.json() == {"name": "stteam01", "type": "Microsoft.Storage/storageAccounts"}


def test_check_name_available() -> None:
    body = example_body(f"{STORAGE}/StorageAccountCheckNameAvailability.json")
    transport = FakeTransport().add("POST", "checkNameAvailability", Canned(200, body))
    assert make_backend(transport).storage.check_name("stteam01").available


def test_invalid_account_name_is_refused_before_any_call() -> None:
    transport = FakeTransport()
    with pytest.raises(InvalidName, match="storage account"):
        make_backend(transport).storage.check_name("Team-Storage")
    assert transport.requests == []


def test_begin_create_account_sends_storagev2_standard_lrs_and_polls() -> None:
    poll = f"{OPERATIONS}/op1?api-version={API}"
    created = example_body(f"{STORAGE}/StorageAccountCreate.json")
    transport = (
        FakeTransport()
        .add("PUT", rf"{ACCOUNT}\?", Canned(202, None, {"Location": poll, "Retry-After": "0"}))
        .add(
            "GET",
            "asyncoperations/op1",
            Canned(202, None, {"Location": poll, "Retry-After": "0"}),
            Canned(200, created),
        )
    )
    operation = make_backend(transport).storage.begin_create_account(
        "stteam01", resource_group="rg-team", location="eastus", tags={"team": "ml"}
    )
    info = operation.result(timeout=5)
    (put,) = transport.sent("PUT")
    assert put.api_version == API
    assert put.json() == {
        "sku": {"name": "Standard_LRS"},
        "kind": "StorageV2",
        "location": "eastus",
        "tags": {"team": "ml"},
        "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False, "supportsHttpsTrafficOnly": True},
    }
    # The example's response (sto4445, Standard_GRS) comes back as the bot's own dataclass.
    assert (info.name, info.kind, info.sku, info.provisioning_state) == (
        "sto4445",
        "Storage",
        "Standard_GRS",
        "Succeeded",
    )
    assert info.blob_endpoint == "https://sto4445.blob.core.windows.net/"


def test_failed_create_operation_raises_operation_failed() -> None:
    poll = f"{OPERATIONS}/bad?api-version={API}"
    transport = (
        FakeTransport()
        .add("PUT", rf"{ACCOUNT}\?", Canned(202, None, {"Azure-AsyncOperation": poll, "Retry-After": "0"}))
        .add(
            "GET",
            "asyncoperations/bad",
            Canned(
                200,
                {
                    "status": "Failed",
                    "error": {"code": "InternalError", "message": "The storage stamp is unavailable."},
                },
            ),
        )
    )
    operation = make_backend(transport).storage.begin_create_account(
        "stteam01", resource_group="rg-team", location="eastus"
    )
    with pytest.raises(OperationFailed, match="storage stamp is unavailable"):
        operation.result(timeout=5)


def test_name_taken_elsewhere_is_name_taken() -> None:
    transport = FakeTransport().add(
        "PUT",
        rf"{ACCOUNT}\?",
        arm_error(409, "StorageAccountAlreadyTaken", "The storage account named stteam01 is already taken."),
    )
    with pytest.raises(NameTaken, match="pick another"):
        make_backend(transport).storage.begin_create_account("stteam01", resource_group="rg-team", location="eastus")


def test_quota_exceeded() -> None:
    transport = FakeTransport().add(
        "PUT",
        rf"{ACCOUNT}\?",
        arm_error(400, "SubscriptionQuotaExceeded", "Subscription has reached the limit of 250 storage accounts."),
    )
    with pytest.raises(QuotaExceeded, match="quota"):
        make_backend(transport).storage.begin_create_account("stteam01", resource_group="rg-team", location="eastus")


def test_get_account_hides_nothing_secret_and_maps_fields() -> None:
    transport = FakeTransport().add("GET", rf"{ACCOUNT}\?", Canned(200, account_body()))
    info = make_backend(transport).storage.get_account("stteam01", resource_group="rg-team")
    assert info.name == "stteam01"
    assert (info.kind, info.sku, info.location) == ("StorageV2", "Standard_LRS", "eastus")
    assert info.blob_endpoint == "https://stteam01.blob.core.windows.net/"


def test_containers_on_the_management_plane() -> None:
    put_body = example_body(f"{STORAGE}/BlobContainersPut.json", "201")
    put_body["name"] = "training-data"
    transport = (
        FakeTransport()
        .add("PUT", rf"{ACCOUNT}/blobServices/default/containers/training-data\?", Canned(201, put_body))
        .add("GET", rf"{ACCOUNT}/blobServices/default/containers\?", Canned(200, {"value": [put_body]}))
    )
    storage = make_backend(transport).storage
    assert storage.create_container("stteam01", "training-data", resource_group="rg-team").name == "training-data"
    assert [c.name for c in storage.list_containers("stteam01", resource_group="rg-team")] == ["training-data"]
    put = transport.sent("PUT")[0]
    assert (put.api_version, put.json()) == (API, {})


def test_existing_container_is_already_exists() -> None:
    transport = FakeTransport().add(
        "PUT",
        r"/containers/training-data\?",
        arm_error(409, "ContainerAlreadyExists", "The specified container already exists."),
    )
    with pytest.raises(AlreadyExists, match="Container `training-data` in storage account `stteam01` already exists"):
        make_backend(transport).storage.create_container("stteam01", "training-data", resource_group="rg-team")


def test_delete_account() -> None:
    transport = FakeTransport().add(
        "DELETE", rf"{ACCOUNT}\?", example_response(f"{STORAGE}/StorageAccountDelete.json", "200")
    )
    make_backend(transport).storage.delete_account("stteam01", resource_group="rg-team")
    (delete,) = transport.requests
    assert delete.api_version == API


def test_throttled_list_carries_retry_after() -> None:
    transport = FakeTransport().add(
        "GET", r"/containers\?", arm_error(429, "TooManyRequests", "Too many requests.", {"Retry-After": "3"})
    )
    with pytest.raises(Throttled) as caught:
        make_backend(transport).storage.list_containers("stteam01", resource_group="rg-team")
    assert caught.value.retry_after == 3


def test_account_key_stays_inside_the_adapter(caplog: pytest.LogCaptureFixture) -> None:
    """listKeys is read only to build the data-plane client; the key shows up nowhere a person can see."""
    keys = example_body(f"{STORAGE}/StorageAccountListKeys.json")
    keys["keys"][0]["value"] = FAKE_KEY
    container_url = r"^https://stteam01\.blob\.core\.windows\.net/private\?restype=container"
    transport = (
        FakeTransport()
        .add("GET", rf"{ACCOUNT}\?", Canned(200, account_body()))
        .add("POST", rf"{ACCOUNT}/listKeys\?", Canned(200, keys))
        # The data plane answers with an error that quotes the key, as a misbehaving proxy might.
        .add(
            "PUT",
            container_url,
            Canned(
                403, f"AuthenticationFailed AccountKey={FAKE_KEY}".encode(), {"x-ms-error-code": "AuthenticationFailed"}
            ),
        )
    )
    caplog.set_level(logging.DEBUG)
    blobs = make_backend(transport).storage.blob_containers("stteam01", resource_group="rg-team", use_account_key=True)
    assert FAKE_KEY not in repr(blobs)
    with pytest.raises(Exception) as caught:
        blobs.create_container("private")
    # Shared-key signing happened (so the key was used) ...
    (put,) = transport.sent("PUT", "blob.core.windows.net")
    assert put.headers["Authorization"].startswith("SharedKey stteam01:")
    # ... but it is not in the error, its traceback chain, or the logs.
    error = caught.value
    assert FAKE_KEY not in str(error) and error.__cause__ is None and error.__suppress_context__
    assert FAKE_KEY not in caplog.text
