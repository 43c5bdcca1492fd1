"""Roles, permission configuration, user group caching and refusals that say who can help."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.errors import Forbidden
from services.rbac import (
    Authorizer,
    CachingUserGroupResolver,
    GroupRef,
    PermissionConfig,
    PermissionConfigError,
    Role,
    StaticUserGroups,
    approve_action,
)


class FlakyGroups:
    """A resolver whose answers and failures the test scripts; counts calls."""

    def __init__(self, members: dict[str, set[str]]) -> None:
        self.members_by_group = members
        self.calls = 0
        self.fail = False

    def members(self, group_id: str) -> set[str]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("usergroups.users.list: ratelimited")
        return set(self.members_by_group.get(group_id, set()))


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_roles_are_ordered_and_parse_by_name() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.APPROVER < Role.ADMIN
    assert Role.parse("Approver") is Role.APPROVER and Role.parse(Role.ADMIN) is Role.ADMIN
    with pytest.raises(ValueError, match="one of: viewer, operator, approver, admin"):
        Role.parse("root")


def test_destructive_actions_are_admin_only_by_default_and_unknown_actions_closed() -> None:
    config = PermissionConfig()
    for action in ("teardown.workspace", "teardown.rg", "compute.delete", "storage.delete", "audit"):
        assert config.required_role(action) is Role.ADMIN
    assert config.required_role("job.list") is Role.VIEWER
    assert config.required_role("job.submit") is Role.OPERATOR
    assert config.required_role(approve_action("teardown.rg")) is Role.APPROVER
    assert config.required_role("something.new") is Role.ADMIN
    assert config.approvals_needed("teardown.rg") == 1
    auth = Authorizer(config)
    assert auth.role_of("U_ANYONE", "C1") is Role.VIEWER
    with pytest.raises(Forbidden, match="needs the admin role; nobody holds it yet") as err:
        auth.check("U_ANYONE", "C1", "teardown.workspace")
    assert err.value.role == "admin"


def test_config_from_json_yaml_and_env(tmp_path: Path) -> None:
    data = {
        "roles": {
            "admin": {"users": ["U_ROOT"]},
            "approver": {"users": ["U_ALICE"], "groups": ["@mlops", {"id": "S1", "handle": "oncall"}, "S2"]},
            "operator": {"channels": ["C_ML"], "users": ["U_ALICE"]},  # the higher grant wins
        },
        "default_role": "viewer",
        "actions": {"teardown.rg": "approver"},
        "approvals": {"teardown.rg": 2},
    }
    from_json = PermissionConfig.from_json(json.dumps(data))
    yaml_file = tmp_path / "permissions.yaml"
    yaml_file.write_text(
        "roles:\n  admin: {users: [U_ROOT]}\n  approver:\n    users: [U_ALICE]\n"
        "    groups: ['@mlops', {id: S1, handle: oncall}, S2]\n  operator: {channels: [C_ML], users: [U_ALICE]}\n"
        "default_role: viewer\nactions: {teardown.rg: approver}\napprovals: {teardown.rg: 2}\n"
    )
    from_yaml = PermissionConfig.from_file(yaml_file)
    from_env = PermissionConfig.from_env({"AMLBOT_PERMISSIONS": str(yaml_file)})
    inline_env = PermissionConfig.from_env({"AMLBOT_PERMISSIONS": json.dumps(data)})
    assert from_json == from_yaml == from_env == inline_env
    assert from_json.users == {"U_ROOT": Role.ADMIN, "U_ALICE": Role.APPROVER}
    assert from_json.channels == {"C_ML": Role.OPERATOR}
    assert set(from_json.groups) == {GroupRef(handle="mlops"), GroupRef(id="S1", handle="oncall"), GroupRef(id="S2")}
    assert from_json.required_role("teardown.rg") is Role.APPROVER and from_json.approvals_needed("teardown.rg") == 2
    assert PermissionConfig.from_env({}) == PermissionConfig()


def test_config_errors_are_all_reported_at_once() -> None:
    bad = {
        "roles": {"superuser": {"users": ["U1"]}, "admin": {"users": "U1", "teams": []}},
        "actions": {"job.submit": "boss"},
        "approvals": {"teardown.rg": 0, "teardown.workspace": True},
        "extra": 1,
    }
    with pytest.raises(PermissionConfigError) as err:
        PermissionConfig.from_mapping(bad)
    message = str(err.value)
    for fragment in ("unknown keys: extra", "superuser", "admin.users must be a list", "teams", "boss", "approvals"):
        assert fragment in message
    with pytest.raises(PermissionConfigError, match="not valid JSON"):
        PermissionConfig.from_env({"AMLBOT_PERMISSIONS": "{nope"})
    with pytest.raises(PermissionConfigError, match="cannot read"):
        PermissionConfig.from_env({"AMLBOT_PERMISSIONS": "/nonexistent/permissions.json"})


def test_role_comes_from_user_group_or_channel_whichever_is_highest() -> None:
    config = PermissionConfig.from_mapping(
        {
            "roles": {
                "approver": {"users": ["U_ALICE"], "groups": ["@mlops"]},
                "operator": {"channels": ["C_ML"]},
                "admin": {"groups": [{"id": "S_ADMINS", "handle": "admins"}]},
            }
        }
    )
    groups = FlakyGroups({"@mlops": {"U_CAROL"}, "S_ADMINS": {"U_ROOT"}})
    auth = Authorizer(config, CachingUserGroupResolver(groups))
    assert auth.role_of("U_ALICE") is Role.APPROVER
    assert auth.role_of("U_CAROL", "C_OTHER") is Role.APPROVER
    assert auth.role_of("U_DAVE", "C_ML") is Role.OPERATOR
    assert auth.role_of("U_DAVE", "C_OTHER") is Role.VIEWER
    assert auth.role_of("U_ROOT") is Role.ADMIN
    # a check reads groups only as far as needed: U_ALICE's own grant suffices
    calls = groups.calls
    auth.check("U_ALICE", "C_OTHER", approve_action("teardown.workspace"))
    assert groups.calls == calls


def test_refusal_names_the_role_and_who_holds_it() -> None:
    config = PermissionConfig.from_mapping({"roles": {"approver": {"users": ["U_ALICE"], "groups": ["@mlops"]}}})
    auth = Authorizer(config, StaticUserGroups({"@mlops": {"U_CAROL"}}))
    with pytest.raises(Forbidden) as err:
        auth.check("U_VIEW", "C1", approve_action("teardown.workspace"))
    assert str(err.value) == (
        "Approving a workspace teardown needs the approver role; it is held by <@U_ALICE> and @mlops."
    )
    assert err.value.role == "approver"
    admin = PermissionConfig.from_mapping(
        {"roles": {"admin": {"users": ["U_ROOT"], "groups": ["S9"], "channels": ["C_OPS"]}}}
    )
    with pytest.raises(Forbidden) as err:
        Authorizer(admin, StaticUserGroups()).check("U_VIEW", "C1", "job.frobnicate")
    assert str(err.value) == (
        "The command `/aml job frobnicate` needs the admin role; "
        "it is held by <@U_ROOT>, <!subteam^S9> and everyone in <#C_OPS>."
    )


def test_group_members_are_cached_refreshed_and_kept_when_slack_fails() -> None:
    inner = FlakyGroups({"S1": {"U1"}})
    ticker = Ticker()
    cache = CachingUserGroupResolver(inner, ttl=300, retry_after=30, clock=ticker)
    assert cache.members("S1") == {"U1"} and inner.calls == 1
    ticker.now = 299
    assert cache.members("S1") == {"U1"} and inner.calls == 1  # fresh: no call
    inner.members_by_group["S1"] = {"U1", "U2"}
    ticker.now = 301
    assert cache.members("S1") == {"U1", "U2"} and inner.calls == 2  # stale: fetched again
    inner.fail = True
    ticker.now = 700
    assert cache.members("S1") == {"U1", "U2"} and inner.calls == 3  # stale-on-error
    ticker.now = 710
    assert cache.members("S1") == {"U1", "U2"} and inner.calls == 3  # no hammering until retry_after
    ticker.now = 731
    cache.members("S1")
    assert inner.calls == 4
    inner.fail = False
    inner.members_by_group["S1"] = {"U3"}
    cache.refresh()
    assert cache.members("S1") == {"U3"} and inner.calls == 5
    inner.fail = True
    with pytest.raises(RuntimeError):  # never fetched: nothing to fall back on
        cache.members("S_NEW")
    cache.invalidate("S1")
    with pytest.raises(RuntimeError):
        cache.members("S1")


def test_a_group_that_cannot_be_read_grants_nothing_and_the_refusal_says_so() -> None:
    config = PermissionConfig.from_mapping({"roles": {"approver": {"groups": ["@mlops"]}}})
    groups = FlakyGroups({"@mlops": {"U_CAROL"}})
    groups.fail = True
    auth = Authorizer(config, CachingUserGroupResolver(groups))
    assert auth.role_of("U_CAROL") is Role.VIEWER
    with pytest.raises(Forbidden) as err:
        auth.check("U_CAROL", None, approve_action("teardown.rg"))
    assert "held by @mlops" in str(err.value)
    assert "could not check membership of @mlops" in str(err.value)
    groups.fail = False
    auth.check("U_CAROL", None, approve_action("teardown.rg"))
