"""Every command checks the caller's role on the server and leaves an audit row; `/aml audit` shows them to admins."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.permissions import load_permissions
from bot.settings import SettingsError, load_settings
from commands import build_table
from commands.context import CommandContext, Invocation, Reply
from commands.router import Dispatch, Router
from commands.table import CommandTable
from services.audit import AuditLog
from services.container import Services
from services.rbac import DEFAULT_ACTION_ROLES, Authorizer, PermissionConfig, Role
from services.store import create_schema, make_engine

CONFIG = {"roles": {"admin": {"users": ["U_ALICE"]}, "operator": {"users": ["U_BOB"]}}}


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    return engine


def routed(table: CommandTable, engine: Engine, config: dict[str, object] = CONFIG) -> Router:
    authorizer = Authorizer(PermissionConfig.from_mapping(config))
    return Router(table, Services(authorizer=authorizer, audit=AuditLog(engine)))


def answer(router: Router, text: str, user: str) -> str:
    """Run a command as Slack would: the ack's reply or the slow work's, then the audit write after the ack."""
    dispatch: Dispatch = router.route(Invocation(text=text, user_id=user, channel_id="C_ML"))
    reply = dispatch.work() if dispatch.work else dispatch.reply
    if dispatch.audit:
        dispatch.audit()
    assert reply is not None
    return reply.text


def counting_table() -> tuple[CommandTable, list[str]]:
    """The real table plus one command that records each run, to show a refused command runs nothing."""
    ran: list[str] = []
    table = build_table()

    def submit(context: CommandContext, args: argparse.Namespace) -> Reply:
        """Pretend to submit a job."""
        ran.append(context.invocation.user_id)
        return Reply("submitted")

    table.noun("job", "").verbs.pop("submit")
    table.add("job", "submit", submit, slow=True, arguments=lambda parser: parser.add_argument("template"))
    return table, ran


def test_a_viewer_is_refused_with_the_role_and_who_holds_it_and_nothing_runs(engine: Engine) -> None:
    table, ran = counting_table()
    text = answer(routed(table, engine), "job submit hello", "U_CAROL")
    assert "needs the operator role" in text
    assert "<@U_ALICE>" in text and "<@U_BOB>" in text
    assert ran == []


def test_an_operator_runs_the_command(engine: Engine) -> None:
    table, ran = counting_table()
    assert answer(routed(table, engine), "job submit hello", "U_BOB") == "submitted"
    assert ran == ["U_BOB"]


def test_every_command_has_a_declared_minimum_role() -> None:
    """A command added without a role would silently be admin-only; declare it in DEFAULT_ACTION_ROLES."""
    undeclared = [
        sub.action
        for noun in build_table().nouns()
        for sub in [*noun.verbs.values(), *([noun.bare] if noun.bare else [])]
        if sub.action not in DEFAULT_ACTION_ROLES
    ]
    assert undeclared == []


def test_deletions_are_denied_to_everyone_but_admins_by_default() -> None:
    authorizer = Authorizer(PermissionConfig(default_role=Role.OPERATOR))
    for action in ("teardown.workspace", "teardown.rg", "compute.delete", "storage.delete"):
        assert not authorizer.allowed("U_ANYONE", "C_ML", action)
    assert authorizer.allowed("U_ANYONE", "C_ML", "job.submit")


def test_each_command_leaves_an_audit_row_with_its_outcome(engine: Engine) -> None:
    table, _ = counting_table()
    router = routed(table, engine)
    answer(router, "job submit hello", "U_BOB")
    answer(router, "job submit hello", "U_CAROL")
    answer(router, "job sumbit hello", "U_BOB")
    rows = [(e.user, e.text, e.outcome) for e in reversed(AuditLog(engine).recent(10))]
    assert rows == [
        ("U_BOB", "/aml job submit hello", "ok"),
        ("U_CAROL", "/aml job submit hello", "refused"),
        ("U_BOB", "/aml job sumbit hello", "invalid"),
    ]


def test_secrets_typed_into_a_command_never_reach_the_audit_trail(engine: Engine) -> None:
    key = "A" * 86 + "=="
    typed = f"config set location DefaultEndpointsProtocol=https;AccountKey={key}"
    answer(routed(build_table(), engine), typed, "U_BOB")
    (entry,) = AuditLog(engine).recent(1)
    assert key not in entry.text and "AccountKey" in entry.text


def test_audit_shows_recent_entries_to_admins(engine: Engine) -> None:
    router = routed(build_table(), engine)
    answer(router, "help job", "U_BOB")
    answer(router, "compute lst", "U_CAROL")
    text = answer(router, "audit --limit 5", "U_ALICE")
    assert "<@U_BOB>" in text and "`/aml help job` → ok" in text
    assert "`/aml compute lst` → invalid" in text


def test_audit_filters_by_person_given_as_a_mention(engine: Engine) -> None:
    router = routed(build_table(), engine)
    answer(router, "help", "U_BOB")
    answer(router, "help job", "U_CAROL")
    text = answer(router, "audit --user <@U_CAROL|carol>", "U_ALICE")
    assert "help job" in text and "<@U_BOB>" not in text


def test_audit_is_refused_to_non_admins(engine: Engine) -> None:
    text = answer(routed(build_table(), engine), "audit", "U_BOB")
    assert "needs the admin role" in text and "<@U_ALICE>" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("audit --limit 0", "--limit takes a whole number from 1 to 100"), ("audit --user bob", "--user takes a person")],
)
def test_audit_rejects_bad_options_with_the_usage_line(engine: Engine, text: str, expected: str) -> None:
    reply = answer(routed(build_table(), engine), text, "U_ALICE")
    assert expected in reply and "Usage: `/aml audit" in reply


def _settings(**extra: str) -> object:
    return load_settings({"AMLBOT_SLACK_BOT_TOKEN": "xoxb-1", "AMLBOT_SLACK_SIGNING_SECRET": "s", **extra})


def test_without_a_configuration_everyone_is_an_operator_and_nobody_deletes() -> None:
    config = load_permissions(_settings())  # type: ignore[arg-type]
    assert config.default_role is Role.OPERATOR and not config.users


def test_a_bad_configuration_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="AMLBOT_PERMISSIONS.*unknown keys: rolez"):
        load_permissions(_settings(AMLBOT_PERMISSIONS='{"rolez": {}}'))  # type: ignore[arg-type]
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SettingsError, match="cannot read permissions file"):
        load_permissions(_settings(AMLBOT_PERMISSIONS=str(missing)))  # type: ignore[arg-type]


def test_the_demo_permissions_of_the_shell_parse() -> None:
    demo = Path(__file__).parents[2] / "bot" / "devslack" / "permissions.json"
    config = PermissionConfig.from_file(demo)
    assert config.users == {"U_ALICE": Role.ADMIN}
