"""`/aml teardown workspace|rg`, `/aml compute delete`, `/aml storage delete` through the router: an approval
request is posted (on a SQLite store), nothing is deleted until someone else approves, and the caller alone is
told what happens next."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from commands import build_table
from commands.context import Invocation, Reply
from commands.router import Router
from services.approvals import KIND_REQUEST, ApprovalService, ApprovalState
from services.audit import APPROVAL_REQUEST, COMMAND, AuditLog
from services.catalog import JobCatalog
from services.channel_config import ChannelConfig
from services.cloud.local import build_local_backend
from services.container import Services
from services.errors import NotFound
from services.models import WorkspaceScope, WorkspaceSpec
from services.outbox import Outbox
from services.ports import CloudBackend
from services.rbac import Authorizer, PermissionConfig
from services.store import create_schema, make_engine
from services.teardown import TeardownExecutor
from tests.services.store.store_fakes import FakeClock

CHANNEL = "C_ML"
# U_REQ may ask (operator); U_ALICE approves; U_VIEW has no grant (viewer).
PERMISSIONS = {
    "roles": {"approver": {"users": ["U_ALICE"]}, "operator": {"users": ["U_REQ"]}},
    "actions": {
        "teardown.workspace": "operator",
        "teardown.rg": "operator",
        "compute.delete": "operator",
        "storage.delete": "operator",
    },
    "approvals": {"teardown.rg": 2},
}


@pytest.fixture
def backend(tmp_path: Path) -> CloudBackend:
    return build_local_backend(tmp_path / "data", JobCatalog(tmp_path / "jobs"), compute_transition_seconds=0)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    create_schema(engine)
    return engine


@pytest.fixture
def approvals(engine: Engine, backend: CloudBackend) -> ApprovalService:
    clock = FakeClock()
    authorizer = Authorizer(PermissionConfig.from_mapping(PERMISSIONS))
    return ApprovalService(engine, Outbox(clock), authorizer, clock, executor=TeardownExecutor(backend))


@pytest.fixture
def router(backend: CloudBackend, approvals: ApprovalService, engine: Engine) -> Router:
    services = Services(
        backend=backend,
        approvals=approvals,
        authorizer=approvals.authorizer,
        audit=approvals.audit,
        channels=ChannelConfig(engine),
    )
    return Router(build_table(), services)


def ask(router: Router, text: str, user: str = "U_REQ") -> Reply:
    """What `/aml text` answers, after the slow work has run as the bot's pool would run it."""
    dispatch = router.route(Invocation(text=text, user_id=user, channel_id=CHANNEL))
    if dispatch.work is not None:
        return dispatch.work()
    assert dispatch.reply is not None
    return dispatch.reply


def posted(engine: Engine) -> list[str]:
    """The approval requests queued for the channel, as the plain-words text they are drawn from."""
    with engine.connect() as conn:
        return [str(item.payload["text"]) for item in Outbox.items(conn, channel=CHANNEL) if item.kind == KIND_REQUEST]


# ---------------------------------------------------------------------- asking
def test_teardown_workspace_asks_and_deletes_nothing(
    router: Router, approvals: ApprovalService, backend: CloudBackend, engine: Engine
) -> None:
    account = backend.workspaces.get("local").storage_account
    reply = ask(router, "teardown workspace local --reason project finished")
    assert not reply.in_channel
    assert reply.text.startswith(
        "I asked for approval to delete workspace `local` (request #1); it is posted in this channel and needs "
        "1 approval from someone else before anything is deleted. It expires "
    )
    (request,) = approvals.requests()
    assert (request.action, request.target, request.requester, request.reason) == (
        "teardown.workspace",
        "local",
        "U_REQ",
        "project finished",
    )
    assert {"type": "storage account", "name": account} in request.details["resources"]
    assert {"type": "compute cluster", "name": "cpu-cluster"} in request.details["resources"]
    (text,) = posted(engine)
    assert "This also deletes, with it: compute cluster `cpu-cluster`, compute instance `dev-instance`, " in text
    assert f"storage account `{account}`" in text and "Asked by <@U_REQ>: project finished" in text
    assert backend.workspaces.get("local").name == "local"  # nothing deleted yet


def test_keep_dependents_is_asked_for_and_honoured_once_approved(
    router: Router, approvals: ApprovalService, backend: CloudBackend, engine: Engine
) -> None:
    backend.resource_groups.create_or_update("team-rg", location="westeurope")
    info = backend.workspaces.begin_create(
        WorkspaceSpec(name="team-ws", location="westeurope", resource_group="team-rg")
    ).result(timeout=5)
    reply = ask(router, "teardown workspace team-ws --resource-group team-rg --keep-dependents")
    assert "Its dependent resources are kept." in reply.text
    (request,) = approvals.requests()
    assert request.details["keep_dependents"] is True and request.details["resources"] == []
    assert "Its dependent resources are kept." in posted(engine)[0]

    decision = approvals.decide(request.id, "U_ALICE", CHANNEL, approve=True)
    assert decision.execution is not None and decision.execution.ok
    assert decision.message == (
        "Approved. Deleted workspace `team-ws` (resource group `team-rg`). Kept, as asked: "
        f"storage account `{info.storage_account}`, key vault `{info.key_vault}` "
        f"and Application Insights `{info.application_insights}`."
    )
    with pytest.raises(NotFound):
        backend.workspaces.get("team-ws", resource_group="team-rg")
    assert backend.storage.get_account(str(info.storage_account), resource_group="team-rg")


def test_teardown_rg_lists_its_contents_and_needs_two_approvals(
    router: Router, approvals: ApprovalService, backend: CloudBackend, engine: Engine
) -> None:
    backend.resource_groups.create_or_update("old-rg", location="local")
    backend.storage.begin_create_account("olddata01", resource_group="old-rg", location="local").result(timeout=5)
    reply = ask(router, "teardown rg old-rg")
    assert "delete resource group `old-rg` (request #1)" in reply.text and "needs 2 approvals" in reply.text
    (request,) = approvals.requests()
    assert request.details["resources"] == ["olddata01 (Microsoft.Storage/storageAccounts)"]
    assert "This also deletes, everything in it: olddata01 (Microsoft.Storage/storageAccounts)" in posted(engine)[0]
    assert backend.resource_groups.get("old-rg").name == "old-rg"


def test_compute_delete_targets_the_channels_workspace(
    router: Router, approvals: ApprovalService, backend: CloudBackend, engine: Engine
) -> None:
    backend.resource_groups.create_or_update("team-rg", location="local")
    backend.workspaces.begin_create(WorkspaceSpec(name="team-ws", location="local", resource_group="team-rg")).result(5)
    team = WorkspaceScope(resource_group="team-rg", workspace="team-ws")
    backend.computes.begin_create_instance("team-box", size="Standard_DS11_v2", scope=team).result(timeout=5)
    channels = ChannelConfig(engine)
    channels.set(CHANNEL, "workspace", "team-ws", user="U_REQ")
    channels.set(CHANNEL, "resource-group", "team-rg", user="U_REQ")

    reply = ask(router, "compute delete team-box")
    assert "delete compute `team-box` (request #1)" in reply.text
    (request,) = approvals.requests()
    assert (request.details["workspace"], request.details["resource_group"]) == ("team-ws", "team-rg")
    assert "compute instance `team-box` in workspace `team-ws`: Standard_DS11_v2, Running" in posted(engine)[0]

    decision = approvals.decide(request.id, "U_ALICE", CHANNEL, approve=True)
    assert decision.message == "Approved. Deleted compute instance `team-box` from workspace `team-ws`."
    assert backend.computes.list(scope=team) == []
    assert [c.name for c in backend.computes.list()] == ["cpu-cluster", "dev-instance"]  # the bot's own untouched


def test_storage_delete_lists_the_containers(
    router: Router, approvals: ApprovalService, backend: CloudBackend, engine: Engine
) -> None:
    backend.storage.begin_create_account("teamdata01", resource_group="local-rg", location="local").result(timeout=5)
    backend.storage.create_container("teamdata01", "raw", resource_group="local-rg")
    reply = ask(router, 'storage delete teamdata01 --reason "data moved"')
    assert "delete storage account `teamdata01` (request #1)" in reply.text
    (request,) = approvals.requests()
    assert request.details == {"resources": [{"type": "blob container", "name": "raw"}], "resource_group": "local-rg"}
    assert "This also deletes, with it: blob container `raw`" in posted(engine)[0]
    assert backend.storage.list_containers("teamdata01", resource_group="local-rg")[0].name == "raw"


# ---------------------------------------------------------------------- refusals
def test_a_viewer_is_refused_with_the_role_named(
    router: Router, approvals: ApprovalService, backend: CloudBackend, engine: Engine
) -> None:
    reply = ask(router, "teardown workspace local", user="U_VIEW")
    assert reply.text == (
        "Requesting a workspace teardown needs the operator role; it is held by <@U_ALICE> and <@U_REQ>."
    )
    assert approvals.requests() == [] and posted(engine) == []
    (refused,) = AuditLog(engine).recent(user="U_VIEW")
    assert (refused.kind, refused.outcome) == (COMMAND, "refused")
    assert backend.workspaces.get("local").name == "local"


def test_the_request_refuses_a_viewer_itself_when_commands_are_not_checked(
    approvals: ApprovalService, backend: CloudBackend, engine: Engine
) -> None:
    unchecked = Router(build_table(), Services(backend=backend, approvals=approvals))
    reply = ask(unchecked, "compute delete dev-instance", user="U_VIEW")
    assert reply.text == "Requesting a compute deletion needs the operator role; it is held by <@U_ALICE> and <@U_REQ>."
    assert approvals.requests() == [] and posted(engine) == []
    (denied,) = AuditLog(engine).recent(user="U_VIEW")
    assert (denied.kind, denied.outcome, denied.text) == (APPROVAL_REQUEST, "denied", "compute.delete dev-instance")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("teardown workspace old-ws", "There is no workspace `old-ws` in resource group `local-rg`."),
        ("teardown rg old-rg", "There is no resource group `old-rg`."),
        (
            "compute delete cpu-clustr",
            "There is no compute `cpu-clustr` in workspace `local`. Did you mean `cpu-cluster`?",
        ),
        ("storage delete olddata01", "There is no storage account `olddata01` in resource group `local-rg`."),
    ],
)
def test_an_unknown_target_is_named_and_nothing_is_asked(
    router: Router, approvals: ApprovalService, engine: Engine, text: str, expected: str
) -> None:
    assert ask(router, text).text.startswith(expected)
    assert approvals.requests() == [] and posted(engine) == []


def test_usage_mistakes_get_the_usage_line(router: Router, approvals: ApprovalService) -> None:
    missing = ask(router, "teardown workspace")
    assert missing.text.startswith("Missing: NAME\nUsage: `/aml teardown workspace [--resource-group RG]")
    assert "--keep-dependents" in missing.text
    assert "I don't know these words here: --force" in ask(router, "compute delete cpu-cluster --force").text
    assert approvals.requests() == []


def test_without_approvals_deletions_are_not_set_up(backend: CloudBackend) -> None:
    router = Router(build_table(), Services(backend=backend))
    reply = ask(router, "storage delete teamdata01")
    assert reply.text.startswith("Deletions are not set up in this bot")
    assert "Nothing was deleted." in reply.text


def test_a_request_is_not_approved_by_its_requester(router: Router, approvals: ApprovalService) -> None:
    ask(router, "compute delete dev-instance")
    (request,) = approvals.requests()
    decision = approvals.decide(request.id, "U_REQ", CHANNEL, approve=True)
    assert "someone else must approve it" in decision.message
    assert approvals.requests()[0].state is ApprovalState.PENDING
