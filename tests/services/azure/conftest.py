"""Fixtures for the Azure adapter tests: the replaying transport helpers and Azurite for the blob data plane."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

_HERE = str(Path(__file__).resolve().parent)

REPO = Path(__file__).resolve().parents[3]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """azure-ai-ml's schemas trip marshmallow 3's deprecation warnings on import: not ours to fix."""
    for item in items:
        if str(item.path).startswith(_HERE):
            item.add_marker(pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning"))


AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(host: str, port: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"azurite-blob exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"azurite-blob did not listen on {host}:{port} within {timeout} s")


@pytest.fixture(scope="session")
def azurite_blob_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Blob endpoint of Azurite: $AZURITE_BLOB_URL if the test command started one, else our own."""
    given = os.environ.get("AZURITE_BLOB_URL")
    if given:
        parts = urlsplit(given)
        _wait_for(parts.hostname or "127.0.0.1", parts.port or 10000, None, timeout=10)
        yield given.rstrip("/")
        return
    binary = REPO / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists() or shutil.which("node") is None:
        pytest.skip("Azurite is not installed (npm install azurite@3.35.0) and AZURITE_BLOB_URL is not set")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--silent",
            "--disableTelemetry",
            "--extentMemoryLimit",
            "512",
        ],
        cwd=tmp_path_factory.mktemp("azurite"),  # in memory; the folder only keeps stray files out of the repo
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for("127.0.0.1", port, process, timeout=30)
        yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def azurite_containers(azurite_blob_url: str) -> Iterator[object]:
    """The data-plane adapter pointed at Azurite with its shared key."""
    from services.cloud.azure.blob import BlobContainers

    blobs = BlobContainers.with_account_key(azurite_blob_url, account=AZURITE_ACCOUNT, key=AZURITE_KEY, retry_total=0)
    yield blobs
    blobs.close()
