"""Build a workspace from a JSON seed file (the bundled one by default)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .models import BotIdentity, Channel, Team, User, UserGroup
from .workspace import Workspace


def load_seed(path: str | Path | None = None) -> Workspace:
    """A workspace populated from ``path`` or from the bundled ``seed.json``."""
    if path is None:
        raw = resources.files(__package__).joinpath("seed.json").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    seed = json.loads(raw)
    workspace = Workspace(Team(**seed["team"]), BotIdentity(**seed["bot"]))
    for user in seed.get("users", []):
        workspace.directory.add_user(User(**user))
    for channel in seed.get("channels", []):
        workspace.directory.add_channel(Channel(**{**channel, "members": tuple(channel.get("members", []))}))
    for group in seed.get("usergroups", []):
        workspace.directory.add_usergroup(UserGroup(**{**group, "users": tuple(group.get("users", []))}))
    return workspace
