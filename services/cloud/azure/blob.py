"""Blob data plane (azure-storage-blob): containers and small blobs of one storage account."""

from __future__ import annotations

from typing import Any

from services.cloud.azure.errors import azure_errors
from services.models import ContainerInfo
from services.naming import validate_blob_container


class BlobContainers:
    """Containers and blobs of one account, reached by its blob URL with a token or shared-key credential.

    The credential stays inside the SDK client: no method returns or prints it.
    """

    def __init__(self, account_url: str, credential: Any, **client_kwargs: Any) -> None:
        from azure.storage.blob import BlobServiceClient

        self._service = BlobServiceClient(account_url, credential=credential, **client_kwargs)
        self.account: str = str(self._service.account_name)

    @classmethod
    def with_account_key(cls, account_url: str, *, account: str, key: str, **client_kwargs: Any) -> BlobContainers:
        """Use a shared key (e.g. Azurite's, or one read with listKeys inside the storage adapter)."""
        from azure.core.credentials import AzureNamedKeyCredential

        return cls(account_url, AzureNamedKeyCredential(account, key), **client_kwargs)

    def __repr__(self) -> str:
        return f"BlobContainers(account={self.account!r})"

    def _what(self, container: str, blob: str | None = None) -> str:
        if blob is None:
            return f"container `{container}` in storage account `{self.account}`"
        return f"blob `{blob}` in container `{container}`"

    def create_container(self, name: str) -> ContainerInfo:
        validate_blob_container(name)
        with azure_errors(self._what(name)):
            self._service.create_container(name)
        return ContainerInfo(account=self.account, name=name)

    def list_containers(self, *, prefix: str | None = None) -> list[ContainerInfo]:
        with azure_errors(f"the containers of storage account `{self.account}`"):
            items = list(self._service.list_containers(name_starts_with=prefix))
        return [ContainerInfo(account=self.account, name=str(item.name)) for item in items]

    def delete_container(self, name: str) -> None:
        validate_blob_container(name)
        with azure_errors(self._what(name)):
            self._service.delete_container(name)

    def upload_blob(self, container: str, blob: str, data: bytes | str, *, overwrite: bool = True) -> None:
        validate_blob_container(container)
        with azure_errors(self._what(container, blob)):
            self._service.get_blob_client(container, blob).upload_blob(data, overwrite=overwrite)

    def download_blob(self, container: str, blob: str) -> bytes:
        validate_blob_container(container)
        with azure_errors(self._what(container, blob)):
            return bytes(self._service.get_blob_client(container, blob).download_blob().readall())

    def list_blobs(self, container: str, *, prefix: str | None = None) -> list[str]:
        validate_blob_container(container)
        with azure_errors(self._what(container)):
            client = self._service.get_container_client(container)
            return [str(item.name) for item in client.list_blobs(name_starts_with=prefix)]

    def close(self) -> None:
        self._service.close()
