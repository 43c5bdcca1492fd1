"""The `backend` fixture of the contract suite: the same ports, once on the local backend and once on Azure.

Azure runs the real adapters and SDKs against `AzureWorld` (a stateful fake behind the replaying
transport); local runs the real local backend on a fresh data folder, with real subprocess jobs.

Test bodies only use the ports. The two things a port cannot observe are provided here per backend:
`untouched` (a call was refused before it reached the backend: no request on Azure, no file written
locally) and `job_submissions` (how many times a job was actually sent or started).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.catalog import JobCatalog
from services.errors import InvalidState
from services.ports import CloudBackend
from tests.services.contract.azure_world import AzureWorld, WorldLifecycle

BACKENDS = ("local", "azure")
_HERE = str(Path(__file__).resolve().parent)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """azure-ai-ml's schemas trip marshmallow 3's deprecation warnings on import: not ours to fix."""
    for item in items:
        if str(item.path).startswith(_HERE):
            item.add_marker(pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning"))


# A code-less template (azure-ai-ml uploads `code:` folders with clients of its own, which no offline
# transport reaches): it says hello, sleeps a little, and leaves a file in its `model` output.
CONTRACT_TEMPLATE = """\
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
display_name: Contract job
experiment_name: contract
command: >-
  echo hi ${{inputs.word}} for ${{inputs.epochs}} epochs
  && sleep ${{inputs.seconds}}
  && echo done > ${{outputs.model}}/model.txt
environment: azureml:AzureML-sklearn-1.5@latest
compute: azureml:cpu-cluster
inputs:
  word:
    type: string
    default: there
  epochs:
    type: integer
    default: 1
  seconds:
    type: number
    default: 0.6
outputs:
  model:
    type: uri_folder
"""


@dataclass
class Harness:
    kind: str
    backend: CloudBackend
    snapshot: Callable[[], object]
    job_submissions: Callable[[], int]
    world: AzureWorld | None = None

    @contextlib.contextmanager
    def untouched(self) -> Iterator[None]:
        """Assert the block reached nothing: no request on Azure, no file created or changed locally."""
        before = self.snapshot()
        yield
        after = self.snapshot()
        assert after == before, f"{self.kind}: the refused call reached the backend ({before!r} → {after!r})"


def _tree(root: Path) -> object:
    if not root.exists():
        return ()
    return tuple(
        sorted((str(p.relative_to(root)), p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))
    )


@pytest.fixture
def catalog(tmp_path: Path) -> JobCatalog:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "contract.yml").write_text(CONTRACT_TEMPLATE)
    return JobCatalog(folder)


@contextlib.contextmanager
def local_harness(tmp_path: Path, catalog: JobCatalog) -> Iterator[Harness]:
    from services.cloud.local import build_local_backend

    data = tmp_path / "data"
    backend = build_local_backend(data, catalog, compute_transition_seconds=0)
    try:
        yield Harness("local", backend, snapshot=lambda: _tree(data), job_submissions=lambda: len(backend.jobs.list()))
    finally:
        for job in backend.jobs.list():  # leave no job running behind a test, even a failed one
            if not job.status.is_terminal:
                with contextlib.suppress(InvalidState):
                    backend.jobs.cancel(job.name)


@contextlib.contextmanager
def azure_harness(catalog: JobCatalog) -> Iterator[Harness]:
    from services.cloud.azure import build_azure_backend
    from tests.services.azure.azure_fakes import RG, SUB, WS, FakeCredential

    world = AzureWorld()
    # The same computes the local backend starts with (its DEFAULT_COMPUTE_SLOTS).
    world.add_cluster("cpu-cluster")
    world.add_instance("dev-instance", state="Stopped")
    backend = build_azure_backend(
        subscription_id=SUB,
        resource_group=RG,
        workspace=WS,
        location="eastus",
        catalog=catalog,
        credential=FakeCredential(),
        workspace_lifecycle=WorldLifecycle(world),
        transport=world,
        retry_total=0,
        polling_interval=0.01,
    )
    yield Harness(
        "azure", backend, snapshot=lambda: len(world.requests), job_submissions=lambda: len(world.job_puts), world=world
    )
    assert world.unmatched == [], "requests the fake Azure world does not model: " + ", ".join(
        f"{r.method} {r.url}" for r in world.unmatched
    )


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path, catalog: JobCatalog) -> Iterator[Harness]:
    kind = request.param
    reason = KNOWN_DIFFERENCES.get(request.node.name)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    with local_harness(tmp_path / "local", catalog) if kind == "local" else azure_harness(catalog) as made:
        yield made


@pytest.fixture
def backend(harness: Harness) -> CloudBackend:
    return harness.backend


@pytest.fixture
def both(tmp_path: Path, catalog: JobCatalog) -> Iterator[dict[str, Harness]]:
    """Both backends at once, for tests that compare what they answer to the same call."""
    with local_harness(tmp_path / "local", catalog) as local, azure_harness(catalog) as azure:
        yield {"local": local, "azure": azure}


@pytest.fixture
def untouched(harness: Harness) -> Callable[[], contextlib.AbstractContextManager[None]]:
    return harness.untouched


# Contract differences between the backends (bugs): test id → where and why. Each makes that one test
# of that one backend an expected failure; strict, so a fix shows up as XPASS and its entry must go.
# e.g. "test_x[local-get]": "local answers NotFound instead of InvalidName (services/cloud/local/jobs.py:215)"
KNOWN_DIFFERENCES: dict[str, str] = {}
