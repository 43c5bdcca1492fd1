"""Plain records held by the local Slack workspace, with their Web API shapes."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JSON = dict[str, Any]


@dataclass(frozen=True)
class Team:
    """The workspace (team) itself."""

    id: str
    name: str
    domain: str

    def to_api(self) -> JSON:
        """The ``team`` object as Slack returns it."""
        return {"id": self.id, "name": self.name, "domain": self.domain}


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot token belongs to."""

    user_id: str
    name: str
    bot_id: str
    app_id: str


@dataclass(frozen=True)
class User:
    """A workspace member."""

    id: str
    name: str
    real_name: str = ""
    email: str = ""
    is_admin: bool = False
    is_bot: bool = False

    @property
    def display(self) -> str:
        """The handle shown in conversations."""
        return self.name

    def to_api(self, team_id: str) -> JSON:
        """The ``user`` object as ``users.info`` returns it."""
        profile: JSON = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "team": team_id,
        }
        if self.email and not self.is_bot:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": False,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "tz": "UTC",
            "tz_offset": 0,
            "profile": profile,
        }


@dataclass(frozen=True)
class Channel:
    """A public channel or a direct-message conversation."""

    id: str
    name: str
    members: tuple[str, ...] = ()
    is_im: bool = False
    is_private: bool = False
    user: str | None = None  # the other party of a DM

    def to_api(self) -> JSON:
        """The ``channel`` object as ``conversations.info`` returns it."""
        if self.is_im:
            return {"id": self.id, "is_im": True, "user": self.user, "is_open": True, "created": 1700000000}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_private": self.is_private,
            "is_archived": False,
            # Membership of the bot is not enforced locally, so report it as a member.
            "is_member": True,
            "num_members": len(self.members),
            "created": 1700000000,
        }


@dataclass(frozen=True)
class UserGroup:
    """A user group (subteam) mentioned as ``@handle``."""

    id: str
    handle: str
    name: str
    users: tuple[str, ...] = ()

    def to_api(self, team_id: str, *, include_users: bool) -> JSON:
        """The ``usergroup`` object as ``usergroups.list`` returns it."""
        data: JSON = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "name": self.name,
            "handle": self.handle,
            "description": "",
            "user_count": len(self.users),
        }
        if include_users:
            data["users"] = list(self.users)
        return data


@dataclass
class Message:
    """A channel message or thread reply; ``revision`` grows with every visible change."""

    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    thread_ts: str | None = None
    reply_broadcast: bool = False
    mrkdwn: bool = True
    reply_count: int = 0
    reply_users: list[str] = field(default_factory=list)
    latest_reply: str | None = None
    edited: JSON | None = None
    edit_count: int = 0
    deleted: bool = False
    files: list[JSON] = field(default_factory=list)
    bot_id: str | None = None
    app_id: str | None = None
    revision: int = 0
    # Slack message metadata ({"event_type", "event_payload"}): returned only with include_all_metadata.
    metadata: JSON | None = None

    is_ephemeral = False

    @property
    def is_reply(self) -> bool:
        """True for a message inside a thread (not the parent)."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, team_id: str, *, include_metadata: bool = False) -> JSON:
        """The message as ``conversations.history`` returns it."""
        data: JSON = {"type": "message", "user": self.user, "text": self.text, "ts": self.ts, "team": team_id}
        if include_metadata and self.metadata:
            data["metadata"] = copy.deepcopy(self.metadata)
        if self.bot_id:
            data["bot_id"] = self.bot_id
            data["app_id"] = self.app_id
        if self.blocks:
            data["blocks"] = self.blocks
        if self.attachments:
            data["attachments"] = self.attachments
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.is_reply and self.reply_broadcast:
            data["subtype"] = "thread_broadcast"
        if self.reply_count:
            data.update(
                reply_count=self.reply_count,
                reply_users=list(self.reply_users),
                reply_users_count=len(self.reply_users),
                latest_reply=self.latest_reply,
            )
        if self.edited:
            data["edited"] = dict(self.edited)
        if self.files:
            data["files"] = self.files
            data["upload"] = True
        return data


@dataclass
class Ephemeral:
    """A message only ``user`` can see; posted by chat.postEphemeral or a response_url."""

    channel: str
    user: str
    ts: str
    author: str
    text: str = ""
    blocks: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"
    deleted: bool = False
    revision: int = 0

    is_ephemeral = True

    def to_api(self, team_id: str) -> JSON:
        """The message shape, for symmetry with :class:`Message`."""
        data: JSON = {
            "type": "message",
            "user": self.author,
            "text": self.text,
            "ts": self.ts,
            "team": team_id,
        }
        if self.blocks:
            data["blocks"] = self.blocks
        if self.attachments:
            data["attachments"] = self.attachments
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        return data


@dataclass
class View:
    """A modal or App Home view, as last opened, pushed, updated or published."""

    id: str
    user: str
    definition: JSON
    hash: str
    external_id: str | None = None
    root_view_id: str | None = None
    previous_view_id: str | None = None

    @property
    def type(self) -> str:
        """``modal`` or ``home``."""
        return str(self.definition.get("type", ""))

    def to_api(self, team_id: str, bot: BotIdentity) -> JSON:
        """The ``view`` object as the views.* methods return it."""
        d = self.definition
        return {
            "id": self.id,
            "team_id": team_id,
            "type": self.type,
            "title": d.get("title"),
            "submit": d.get("submit"),
            "close": d.get("close"),
            "blocks": d.get("blocks", []),
            "private_metadata": d.get("private_metadata", ""),
            "callback_id": d.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "clear_on_close": bool(d.get("clear_on_close", False)),
            "notify_on_close": bool(d.get("notify_on_close", False)),
            "root_view_id": self.root_view_id or self.id,
            "previous_view_id": self.previous_view_id,
            "app_id": bot.app_id,
            "external_id": self.external_id or "",
            "app_installed_team_id": team_id,
            "bot_id": bot.bot_id,
        }


@dataclass
class UploadedFile:
    """A file uploaded through the files upload v2 flow."""

    id: str
    name: str
    length: int
    user: str
    created: int
    title: str = ""
    content: bytes | None = None
    channel: str | None = None
    thread_ts: str | None = None
    alt_txt: str | None = None
    snippet_type: str | None = None
    completed: bool = False  # set by files.completeUploadExternal

    def to_api(self, base_url: str) -> JSON:
        """The ``file`` object as files.info returns it."""
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"
        url = f"{base_url}files/{self.id}/{self.name}"
        data: JSON = {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title or self.name,
            "filetype": ext,
            "size": len(self.content) if self.content is not None else self.length,
            "user": self.user,
            "url_private": url,
            "url_private_download": url,
            "permalink": url,
            "channels": [self.channel] if self.channel else [],
        }
        if self.alt_txt:
            data["alt_txt"] = self.alt_txt
        return data


class ApiCall(NamedTuple):
    """One recorded request: the Web API method (or ``response_url``/``upload``), its params, the status."""

    method: str
    params: JSON
    status: int
