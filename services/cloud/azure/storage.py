"""Storage accounts and their containers through azure-mgmt-storage (management plane).

Account keys are read only to build a data-plane client inside `blob_containers`; they never appear in a
return value, an exception message or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.cloud.azure.blob import BlobContainers
from services.cloud.azure.clients import AzureClients
from services.cloud.azure.errors import azure_errors
from services.cloud.azure.operation import PollerOperation
from services.models import ContainerInfo, NameAvailability, StorageAccountInfo
from services.naming import validate_blob_container, validate_resource_group, validate_storage_account
from services.ports import Operation

ACCOUNT_KIND = "StorageV2"
ACCOUNT_SKU = "Standard_LRS"


def text(value: Any) -> str | None:
    """An SDK enum or string as plain text (str() of a str-enum gives 'Kind.STORAGE_V2')."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _account_info(account: Any) -> StorageAccountInfo:
    sku = getattr(account, "sku", None)
    endpoints = getattr(account, "primary_endpoints", None)
    return StorageAccountInfo(
        name=str(account.name),
        location=str(account.location),
        kind=text(getattr(account, "kind", None)),
        sku=text(getattr(sku, "name", None)),
        provisioning_state=text(getattr(account, "provisioning_state", None)),
        blob_endpoint=text(getattr(endpoints, "blob", None)),
    )


class AzureStorage:
    """Storage port: name checks, accounts (StorageV2 / Standard_LRS) and blob containers."""

    def __init__(self, clients: AzureClients) -> None:
        self._clients = clients

    @staticmethod
    def _validate(account: str, resource_group: str | None = None) -> None:
        validate_storage_account(account)
        if resource_group is not None:
            validate_resource_group(resource_group)

    def check_name(self, account: str) -> NameAvailability:
        self._validate(account)
        from azure.mgmt.storage.models import StorageAccountCheckNameAvailabilityParameters

        with azure_errors(f"storage account name `{account}`"):
            result = self._clients.storage().storage_accounts.check_name_availability(
                StorageAccountCheckNameAvailabilityParameters(name=account)
            )
        return NameAvailability(
            available=bool(result.name_available),
            reason=text(result.reason),
            message=text(result.message),
        )

    def begin_create_account(
        self, account: str, *, resource_group: str, location: str, tags: Mapping[str, str] | None = None
    ) -> Operation[StorageAccountInfo]:
        self._validate(account, resource_group)
        from azure.mgmt.storage.models import (
            Sku,
            StorageAccountCreateParameters,
            StorageAccountPropertiesCreateParameters,
        )

        parameters = StorageAccountCreateParameters(
            sku=Sku(name=ACCOUNT_SKU),
            kind=ACCOUNT_KIND,
            location=location,
            tags=dict(tags or {}),
            properties=StorageAccountPropertiesCreateParameters(
                minimum_tls_version="TLS1_2",
                allow_blob_public_access=False,
                enable_https_traffic_only=True,
            ),
        )
        what = f"storage account `{account}`"
        with azure_errors(what):
            poller = self._clients.storage().storage_accounts.begin_create(resource_group, account, parameters)
        return PollerOperation(poller, description=f"Create {what}", what=what, finish=_account_info)

    def get_account(self, account: str, *, resource_group: str) -> StorageAccountInfo:
        self._validate(account, resource_group)
        with azure_errors(f"storage account `{account}`"):
            return _account_info(self._clients.storage().storage_accounts.get_properties(resource_group, account))

    def create_container(self, account: str, container: str, *, resource_group: str) -> ContainerInfo:
        self._validate(account, resource_group)
        validate_blob_container(container)
        from azure.mgmt.storage.models import BlobContainer

        with azure_errors(f"container `{container}` in storage account `{account}`"):
            created = self._clients.storage().blob_containers.create(
                resource_group, account, container, BlobContainer()
            )
        return ContainerInfo(account=account, name=str(created.name or container))

    def list_containers(self, account: str, *, resource_group: str) -> list[ContainerInfo]:
        self._validate(account, resource_group)
        with azure_errors(f"the containers of storage account `{account}`"):
            items = list(self._clients.storage().blob_containers.list(resource_group, account))
        return [ContainerInfo(account=account, name=str(item.name)) for item in items]

    def delete_account(self, account: str, *, resource_group: str) -> None:
        self._validate(account, resource_group)
        with azure_errors(f"storage account `{account}`"):
            self._clients.storage().storage_accounts.delete(resource_group, account)

    def blob_containers(self, account: str, *, resource_group: str, use_account_key: bool = False) -> BlobContainers:
        """A data-plane client for the account: the bot's token by default (needs Storage Blob Data
        Contributor), or the account key read here with listKeys (needs Contributor) when asked."""
        info = self.get_account(account, resource_group=resource_group)
        url = info.blob_endpoint or f"https://{account}.blob.core.windows.net/"
        kwargs = self._clients.transport_kwargs()
        if not use_account_key:
            return BlobContainers(url, self._clients.credential, **kwargs)
        with azure_errors(f"the keys of storage account `{account}`"):
            keys = self._clients.storage().storage_accounts.list_keys(resource_group, account).keys_property
        if not keys:
            from services.errors import Forbidden

            raise Forbidden(f"Storage account `{account}` returned no access keys (shared keys may be disabled).")
        return BlobContainers.with_account_key(url, account=account, key=str(keys[0].value), **kwargs)
