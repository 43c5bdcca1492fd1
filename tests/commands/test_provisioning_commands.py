"""`/aml rg|storage|container|workspace|compute …` through the HTTP path against the local backend."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from services.catalog import JobCatalog
from services.channel_config import ChannelConfig
from services.cloud.local import build_local_backend
from services.container import Services
from services.errors import NotFound
from services.models import ComputeInfo, WorkspaceScope, WorkspaceSpec
from services.ports import CloudBackend, Computes
from services.store import create_schema, make_engine
from tests.conftest import RunningBot

CHANNEL = "C_ML"


@pytest.fixture
def backend(tmp_path: Path) -> CloudBackend:
    return build_local_backend(tmp_path / "data", JobCatalog(tmp_path / "jobs"), compute_transition_seconds=0)


@pytest.fixture
def running(start_bot: Callable[..., RunningBot], backend: CloudBackend) -> RunningBot:
    return start_bot(services=Services(backend=backend))


def channel_texts(running: RunningBot) -> list[str]:
    return [message.text for message in running.workspace.messages(CHANNEL)]


# ---------------------------------------------------------------------- rg
def test_rg_create_with_region_and_tags_then_again(running: RunningBot) -> None:
    created = running.ask('rg create team-rg --location "West Europe" --tag team=vision --tag cost=42')
    assert (
        ":white_check_mark: <@U_ALICE> created resource group `team-rg` in `westeurope` "
        "with tags `team=vision`, `cost=42`." in created
    )
    assert any("created resource group `team-rg`" in text for text in channel_texts(running))
    assert "already exists (in `westeurope`). Nothing changed." in running.ask("rg create team-rg")
    assert "tagged resource group `team-rg` with tags `owner=bob`" in running.ask("rg create team-rg --tag owner=bob")
    assert "cannot move to `eastus`" in running.ask("rg create team-rg --location eastus")


def test_rg_create_defaults_to_the_default_groups_region(running: RunningBot) -> None:
    assert "created resource group `other-rg` in `local`" in running.ask("rg create other-rg")


def test_rg_create_bad_inputs_create_nothing(running: RunningBot, backend: CloudBackend) -> None:
    invalid = running.ask("rg create team.rg.")
    assert "is not a valid resource group name" in invalid and "must not end with `.`" in invalid
    assert "Try `team.rg`." in invalid
    with pytest.raises(NotFound):
        backend.resource_groups.get("team.rg")  # not created under the suggested name either
    tag = running.ask("rg create team-rg --tag novalue")
    assert "expected key=value" in tag and "Usage: `/aml rg create [--location L] [--tag k=v] NAME`" in tag
    region = running.ask("rg create team-rg --location mars!")
    assert "not an Azure region" in region and "Usage: `/aml rg create" in region
    assert channel_texts(running) == []


# ---------------------------------------------------------------------- storage and container
def test_storage_create_then_a_container_in_it(running: RunningBot) -> None:
    created = running.ask("storage create teamdata01")
    assert "<@U_ALICE> created storage account `teamdata01` in resource group `local-rg` (`local`" in created
    assert "/aml container create teamdata01 NAME" in created
    container = running.ask("container create teamdata01 training-data")
    assert "created blob container `training-data` in storage account `teamdata01` (resource group `local-rg`)" in (
        container
    )
    assert len(channel_texts(running)) == 2
    assert "already exists in storage account" in running.ask("container create teamdata01 training-data")


def test_storage_name_taken_elsewhere_suggests_a_free_one(running: RunningBot) -> None:
    running.ask("rg create team-rg")
    running.ask("storage create teamdata01 --resource-group team-rg")
    taken = running.ask("storage create teamdata01")
    assert "The storage account name `teamdata01` is already taken: storage account names are unique" in taken
    assert "e.g. `teamdata02` (free right now)" in taken
    mine = running.ask("storage create teamdata01 --resource-group team-rg")
    assert "already exists in resource group `team-rg`, so there is nothing to create" in mine


def test_storage_and_container_names_follow_the_rules(running: RunningBot, backend: CloudBackend) -> None:
    invalid = running.ask("storage create Team_Data")
    assert "`Team_Data` is not a valid storage account name" in invalid
    assert "3–24 characters, lowercase letters and digits only" in invalid and "Try `teamdata`." in invalid
    assert backend.storage.check_name("teamdata").available
    running.ask("storage create teamdata01")
    container = running.ask("container create teamdata01 Training--Data")
    assert "not a valid blob container name" in container and "(no `--`)" in container
    assert backend.storage.list_containers("teamdata01", resource_group="local-rg") == []
    unknown = running.ask("container create teamdata1 raw")
    assert "There is no storage account `teamdata1`" in unknown and "Did you mean `teamdata01`?" in unknown
    group = running.ask("storage create teamdata02 --resource-group nope-rg")
    assert "There is no resource group `nope-rg`" in group


# ---------------------------------------------------------------------- workspace
def test_workspace_create_show_and_list(running: RunningBot) -> None:
    running.ask("rg create team-rg --location westeurope")
    created = running.ask(
        'workspace create team-ws --resource-group team-rg --display-name "Team WS" --description "For tests" --hbi'
    )
    assert "<@U_ALICE> created workspace `team-ws` in resource group `team-rg` (`westeurope`, HBI)" in created
    assert "with storage account `teamws" in created
    shown = running.ask("workspace show team-ws --resource-group team-rg")
    for expected in ("Team WS", "For tests", "*High business impact:* yes", "*Created from Slack by:* <@U_ALICE>"):
        assert expected in shown
    everything = running.ask("workspace list")
    assert "`team-ws` Team WS" in everything and "`local`" in everything
    one_group = running.ask("workspace list --resource-group team-rg")
    assert "1 workspace in resource group `team-rg`" in one_group and "`local`" not in one_group
    elsewhere = running.ask("workspace show team-ws")
    assert "There is one in resource group `team-rg`" in elsewhere and "Did you mean" not in elsewhere
    again = running.ask("workspace create team-ws --resource-group team-rg")
    assert "already exists in resource group `team-rg`" in again


def test_workspace_unknown_or_invalid_names(running: RunningBot) -> None:
    running.ask("workspace create team-ws")
    close = running.ask("workspace show team-wz")
    assert "There is no workspace `team-wz`" in close and "Did you mean `team-ws`?" in close
    invalid = running.ask("workspace create ab")
    assert "is not a valid workspace name" in invalid and "3–33 characters" in invalid
    assert "`ab`" not in running.ask("workspace list")


# ---------------------------------------------------------------------- compute
def test_compute_create_instance_and_cluster(running: RunningBot) -> None:
    instance = running.ask("compute create dev-box --size Standard_DS11_v2 --idle-minutes 45")
    assert (
        "<@U_ALICE> created compute instance `dev-box` (Standard_DS11_v2, Running, shuts down after 45 idle min)"
        in instance
    )
    cluster = running.ask(
        "compute create gpu-cluster --size Standard_NC6s_v3 --max-nodes 4 --tier low_priority --idle-minutes 5"
    )
    assert "created compute cluster `gpu-cluster` (Standard_NC6s_v3, 0–4 nodes, low_priority" in cluster
    assert "idle nodes go after 5 min" in cluster
    shown = running.ask("compute show gpu-cluster")
    assert "*Idle scale-down:* 300 s" in shown and "*Tier:* low_priority" in shown
    listed = running.ask("compute list")
    for name in ("dev-box", "gpu-cluster", "cpu-cluster", "dev-instance"):
        assert f"`{name}`" in listed
    assert len(channel_texts(running)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("compute create box1 --size Standard_DS3_v2 --cluster --instance", "not allowed with argument --cluster"),
        ("compute create box1 --size Standard_DS3_v2 --instance --max-nodes 2", "--max-nodes only apply to clusters"),
        ("compute create box1 --size Standard_DS3_v2 --tier spot", "invalid choice: 'spot'"),
        ("compute create box1 --size Standard_DS3_v2 --max-nodes 0", "invalid positive value: '0'"),
        ("compute create box1", "Missing: --size"),
        ("compute create box1 --size Standard_DS3_v2 --min-nodes 3 --max-nodes 2", "is more than --max-nodes 2"),
    ],
)
def test_compute_create_usage_errors_give_the_usage_line(running: RunningBot, text: str, expected: str) -> None:
    answer = running.ask(text)
    assert expected in answer
    assert "Usage: `/aml compute create --size SIZE [--cluster | --instance]" in answer
    assert "box1" not in running.ask("compute list")


def test_compute_create_invalid_name_spells_out_the_rule(running: RunningBot) -> None:
    answer = running.ask("compute create 1box --size Standard_DS3_v2")
    assert "`1box` is not a valid compute name" in answer and "starting with a letter" in answer
    assert "Try `box`." in answer and channel_texts(running) == []


def test_compute_start_stop_and_what_cannot_be_done(running: RunningBot) -> None:
    started = running.ask("compute start dev-instance")
    assert ":white_check_mark: <@U_ALICE> started compute `dev-instance` (Running)" in started
    assert any("started compute `dev-instance`" in text for text in channel_texts(running))
    assert "`dev-instance` is already running." in running.ask("compute start dev-instance")
    assert "<@U_ALICE> stopped compute `dev-instance` (Stopped)" in running.ask("compute stop dev-instance")
    assert "is a cluster" in running.ask("compute start cpu-cluster")
    unknown = running.ask("compute start dev-instanse")
    assert "There is no compute `dev-instanse`" in unknown and "Did you mean `dev-instance`?" in unknown
    assert "Did you mean `cpu-cluster`?" in running.ask("compute show cpu-clustr")


class _TerseComputes:
    """Computes whose NotFound names no close match, as Azure's does."""

    def __init__(self, inner: Computes) -> None:
        self._inner = inner

    def get(self, name: str, *, scope: WorkspaceScope | None = None) -> ComputeInfo:
        raise NotFound(f"Compute `{name}` was not found.", hint="Check the name.")

    def list(self, *, scope: WorkspaceScope | None = None) -> list[ComputeInfo]:
        return self._inner.list(scope=scope)


def test_compute_close_match_added_when_the_backend_gives_none(
    start_bot: Callable[..., RunningBot], backend: CloudBackend
) -> None:
    terse = dataclasses.replace(backend, computes=_TerseComputes(backend.computes))  # type: ignore[arg-type]
    running = start_bot(services=Services(backend=terse))
    answer = running.ask("compute show dev-instanse")
    assert "Compute `dev-instanse` was not found. Did you mean `dev-instance`? Check the name." in answer


def test_an_operation_outlasting_the_wait_is_announced_as_still_going(
    start_bot: Callable[..., RunningBot], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commands import compute

    slow = build_local_backend(tmp_path / "slow", JobCatalog(tmp_path / "jobs"), compute_transition_seconds=30)
    monkeypatch.setattr(compute, "START_STOP_TIMEOUT_SECONDS", 0.2)
    running = start_bot(services=Services(backend=slow))
    answer = running.ask("compute start dev-instance")
    assert ":hourglass_flowing_sand: <@U_ALICE> asked to start compute `dev-instance`" in answer
    assert "; it is still in progress after 0.2 s." in answer
    assert "`/aml compute show dev-instance` tells when it is running." in channel_texts(running)[-1]
    assert "*State:* *Starting*" in running.ask("compute show dev-instance")


def test_compute_commands_work_in_the_channels_workspace(
    start_bot: Callable[..., RunningBot], backend: CloudBackend, tmp_path: Path
) -> None:
    engine = make_engine(None, data_dir=tmp_path / "store")
    create_schema(engine)
    running = start_bot(services=Services(backend=backend, channels=ChannelConfig(engine)))
    backend.resource_groups.create_or_update("team-rg", location="local")
    backend.workspaces.begin_create(WorkspaceSpec(name="team-ws", location="local", resource_group="team-rg")).result(5)
    running.ask("config set workspace team-ws")
    running.ask("config set resource-group team-rg")
    own = backend.computes.get("dev-instance").state

    assert "created compute instance `team-box`" in running.ask("compute create team-box --size Standard_DS11_v2")
    team = WorkspaceScope(resource_group="team-rg", workspace="team-ws")
    assert [c.name for c in backend.computes.list(scope=team)] == ["team-box"]
    listed = running.ask("compute list")
    assert "team-box" in listed and "cpu-cluster" not in listed, "the channel's workspace, not the bot's"
    assert "stopped compute `team-box`" in running.ask("compute stop team-box")
    assert "started compute `team-box`" in running.ask("compute start team-box")
    assert "Running" in running.ask("compute show team-box")
    assert "There is no compute `dev-instance`" in running.ask("compute stop dev-instance")
    assert backend.computes.get("dev-instance").state == own, "the bot's own workspace was not touched"
