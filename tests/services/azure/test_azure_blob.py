"""Blob data plane (azure-storage-blob 12.31) against Azurite 3.35: containers and small blobs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.errors import AlreadyExists, InvalidName, NotFound

pytestmark = pytest.mark.azurite


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def test_container_lifecycle(azurite_containers: Any) -> None:
    name = _name()
    info = azurite_containers.create_container(name)
    assert (info.account, info.name) == ("devstoreaccount1", name)
    assert name in [c.name for c in azurite_containers.list_containers(prefix="t-")]
    azurite_containers.delete_container(name)
    assert name not in [c.name for c in azurite_containers.list_containers(prefix="t-")]


def test_upload_and_download_a_small_blob(azurite_containers: Any) -> None:
    name = _name()
    azurite_containers.create_container(name)
    azurite_containers.upload_blob(name, "data/hello.txt", "hello from the bot\n")
    azurite_containers.upload_blob(name, "data/bytes.bin", b"\x00\x01\x02")
    assert azurite_containers.download_blob(name, "data/hello.txt") == b"hello from the bot\n"
    assert azurite_containers.list_blobs(name, prefix="data/") == ["data/bytes.bin", "data/hello.txt"]
    azurite_containers.delete_container(name)


def test_existing_container_is_already_exists(azurite_containers: Any) -> None:
    name = _name()
    azurite_containers.create_container(name)
    with pytest.raises(AlreadyExists, match=name):
        azurite_containers.create_container(name)
    azurite_containers.delete_container(name)


def test_missing_blob_and_container_are_not_found(azurite_containers: Any) -> None:
    name = _name()
    with pytest.raises(NotFound):
        azurite_containers.delete_container(name)
    azurite_containers.create_container(name)
    with pytest.raises(NotFound, match="Blob `nope.txt` in container"):
        azurite_containers.download_blob(name, "nope.txt")
    azurite_containers.delete_container(name)


def test_container_name_is_checked_before_any_call(azurite_containers: Any) -> None:
    with pytest.raises(InvalidName):
        azurite_containers.create_container("Bad_Name")


def test_the_key_is_not_shown(azurite_containers: Any) -> None:
    assert "Eby8vdM02" not in repr(azurite_containers)
