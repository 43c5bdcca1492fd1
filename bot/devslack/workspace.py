"""Thread-safe in-memory state of the local Slack workspace, with query helpers for tests."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from .blocks import buttons, normalize_attachments, normalize_blocks
from .directory import Directory
from .errors import SlackError
from .files import FileStore
from .models import JSON, ApiCall, BotIdentity, Channel, Ephemeral, Message, Team, User
from .state import SharedState
from .views import ViewStore

DEFAULT_TEAM = Team(id="T0LOCAL", name="Local ML team", domain="local-ml")
DEFAULT_BOT = BotIdentity(user_id="U_AMLBOT", name="aml-bot", bot_id="B_AMLBOT", app_id="A_AMLBOT")


class Workspace:
    """Messages, ephemerals, views, files, the directory and the API call log, under one condition."""

    def __init__(self, team: Team | None = None, bot: BotIdentity | None = None) -> None:
        self._state = SharedState()
        self.directory = Directory(self._state, team or DEFAULT_TEAM, bot or DEFAULT_BOT)
        self.views = ViewStore(self._state)
        self.files = FileStore(self._state)
        self._messages: dict[str, list[Message]] = {}
        self._by_ts: dict[tuple[str, str], Message] = {}
        self._ephemerals: list[Ephemeral] = []
        self._calls: list[ApiCall] = []

    # -- identity -------------------------------------------------------------------------

    @property
    def team(self) -> Team:
        """The team."""
        return self.directory.team

    @property
    def bot(self) -> BotIdentity:
        """The bot user behind the bot token."""
        return self.directory.bot

    @property
    def version(self) -> int:
        """Grows on every change; cheap "did anything happen?" check for a shell."""
        return self._state.version

    def find_channel(self, name_or_id: str) -> Channel | None:
        """A channel by id or name (``#`` optional)."""
        return self.directory.find_channel(name_or_id)

    def user(self, key: str) -> User | None:
        """A user by id, name or email."""
        return self.directory.find_user(key)

    def next_ts(self) -> str:
        """A fresh unique message timestamp."""
        return self._state.next_ts()

    # -- messages ---------------------------------------------------------------------------

    def post_message(
        self,
        channel_id: str,
        *,
        user: str | None = None,
        text: str = "",
        blocks: Sequence[JSON] = (),
        attachments: Sequence[JSON] = (),
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        mrkdwn: bool = True,
        files: Sequence[JSON] = (),
        metadata: JSON | None = None,
    ) -> Message:
        """Post a message (by the bot unless ``user`` is given); a ``thread_ts`` makes it a reply."""
        channel = self.directory.require_channel(channel_id)
        author = user or self.bot.user_id
        with self._state.change():
            parent = self._thread_parent(channel.id, thread_ts) if thread_ts else None
            is_bot = author == self.bot.user_id
            message = Message(
                channel=channel.id,
                ts=self._state.next_ts(),
                user=author,
                text=text,
                blocks=normalize_blocks(blocks),
                attachments=normalize_attachments(attachments),
                thread_ts=parent.ts if parent else None,
                reply_broadcast=reply_broadcast and parent is not None,
                mrkdwn=mrkdwn,
                files=copy.deepcopy(list(files)),
                bot_id=self.bot.bot_id if is_bot else None,
                app_id=self.bot.app_id if is_bot else None,
                metadata=copy.deepcopy(metadata) if metadata else None,
            )
            if parent:
                parent.thread_ts = parent.ts
                parent.reply_count += 1
                parent.latest_reply = message.ts
                if author not in parent.reply_users:
                    parent.reply_users.append(author)
            self._messages.setdefault(channel.id, []).append(message)
            self._by_ts[(channel.id, message.ts)] = message
            return copy.deepcopy(message)

    def post_user_message(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> Message:
        """Post as a human (for shells and tests); ``channel`` and ``user`` accept names too."""
        found = self.directory.find_user(user)
        if found is None:
            raise SlackError("user_not_found")
        return self.post_message(channel, user=found.id, text=text, thread_ts=thread_ts)

    def _thread_parent(self, channel_id: str, thread_ts: str) -> Message:
        parent = self._by_ts.get((channel_id, thread_ts))
        if parent is None or parent.deleted and not parent.reply_count:
            raise SlackError("thread_not_found")
        if parent.is_reply and parent.thread_ts:
            # Replying to a reply lands in the same thread, as in Slack.
            return self._by_ts[(channel_id, parent.thread_ts)]
        return parent

    def _live(self, channel_id: str, ts: str) -> Message:
        message = self._by_ts.get((channel_id, ts))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        return message

    def update_message(
        self,
        channel_id: str,
        ts: str,
        *,
        text: str | None = None,
        blocks: Sequence[JSON] | None = None,
        attachments: Sequence[JSON] | None = None,
        edited_by: str | None = None,
    ) -> Message:
        """Replace text/blocks/attachments (``None`` keeps them), keep the ts; ``edited_by`` marks an edit."""
        with self._state.change():
            message = self._live(channel_id, ts)
            if text is not None:
                message.text = text
            if blocks is not None:
                message.blocks = normalize_blocks(blocks)
            if attachments is not None:
                message.attachments = normalize_attachments(attachments)
            if edited_by:
                message.edited = {"user": edited_by, "ts": self._state.next_ts()}
                message.edit_count += 1
            message.revision += 1
            return copy.deepcopy(message)

    def delete_message(self, channel_id: str, ts: str) -> Message:
        """Delete a message; a deleted thread parent stays as a tombstone for its replies."""
        with self._state.change():
            message = self._live(channel_id, ts)
            message.deleted = True
            message.revision += 1
            if message.is_reply and message.thread_ts:
                parent = self._by_ts[(channel_id, message.thread_ts)]
                parent.reply_count = max(0, parent.reply_count - 1)
            return copy.deepcopy(message)

    def message(self, channel_id: str, ts: str) -> Message | None:
        """A message (deleted ones included, see ``.deleted``) by channel and ts."""
        with self._state.cond:
            found = self._by_ts.get((channel_id, ts))
            return copy.deepcopy(found) if found else None

    def messages(self, channel_id: str, include_replies: bool = False) -> list[Message]:
        """Live messages oldest first; without ``include_replies`` only top level and broadcast replies."""
        with self._state.cond:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(channel_id, [])
                if not m.deleted and (include_replies or not m.is_reply or m.reply_broadcast)
            ]

    def replies(self, channel_id: str, thread_ts: str) -> list[Message]:
        """Live replies of a thread, oldest first, without the parent."""
        with self._state.cond:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(channel_id, [])
                if not m.deleted and m.is_reply and m.thread_ts == thread_ts
            ]

    def last_message(self, channel_id: str) -> Message | None:
        """The newest live message of a channel, replies included."""
        found = self.messages(channel_id, include_replies=True)
        return found[-1] if found else None

    # -- ephemerals -------------------------------------------------------------------------

    def post_ephemeral(
        self,
        channel_id: str,
        user: str,
        *,
        text: str = "",
        blocks: Sequence[JSON] = (),
        attachments: Sequence[JSON] = (),
        thread_ts: str | None = None,
        source: str = "chat.postEphemeral",
    ) -> Ephemeral:
        """Show a message to one user only."""
        channel = self.directory.require_channel(channel_id)
        with self._state.change():
            ephemeral = Ephemeral(
                channel=channel.id,
                user=user,
                ts=self._state.next_ts(),
                author=self.bot.user_id,
                text=text,
                blocks=normalize_blocks(blocks),
                attachments=normalize_attachments(attachments),
                thread_ts=thread_ts,
                source=source,
            )
            self._ephemerals.append(ephemeral)
            return copy.deepcopy(ephemeral)

    def _live_ephemeral(self, ts: str) -> Ephemeral:
        found = next((e for e in self._ephemerals if e.ts == ts and not e.deleted), None)
        if found is None:
            raise SlackError("message_not_found")
        return found

    def replace_ephemeral(
        self, ts: str, *, text: str, blocks: Sequence[JSON] = (), attachments: Sequence[JSON] = ()
    ) -> Ephemeral:
        """Replace an ephemeral's content (response_url with ``replace_original``)."""
        with self._state.change():
            ephemeral = self._live_ephemeral(ts)
            ephemeral.text = text
            ephemeral.blocks = normalize_blocks(blocks)
            ephemeral.attachments = normalize_attachments(attachments)
            ephemeral.revision += 1
            return copy.deepcopy(ephemeral)

    def delete_ephemeral(self, ts: str) -> None:
        """Remove an ephemeral (response_url with ``delete_original``)."""
        with self._state.change():
            ephemeral = self._live_ephemeral(ts)
            ephemeral.deleted = True
            ephemeral.revision += 1

    def ephemerals(self, channel_id: str | None = None, user: str | None = None) -> list[Ephemeral]:
        """Live ephemerals, oldest first, optionally for one channel and/or recipient."""
        with self._state.cond:
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if not e.deleted
                and (channel_id is None or e.channel == channel_id)
                and (user is None or e.user == user)
            ]

    def latest_with_buttons(self, channel_id: str, user: str) -> Message | Ephemeral | None:
        """The newest message with buttons that ``user`` sees in the channel (threads and ephemerals too)."""
        with self._state.cond:
            seen: list[Message | Ephemeral] = [
                *self.messages(channel_id, include_replies=True),
                *self.ephemerals(channel_id, user),
            ]
        with_buttons = [m for m in seen if buttons(m)]
        return max(with_buttons, key=lambda m: m.ts) if with_buttons else None

    def snapshot(self, channel_id: str) -> tuple[list[Message], list[Ephemeral]]:
        """All messages and ephemerals of a channel, deleted ones included, taken atomically."""
        with self._state.cond:
            return (
                copy.deepcopy(self._messages.get(channel_id, [])),
                [copy.deepcopy(e) for e in self._ephemerals if e.channel == channel_id],
            )

    # -- api log and waiting ------------------------------------------------------------------

    def record_call(self, method: str, params: JSON, status: int) -> None:
        """Append to the API call log."""
        with self._state.change():
            self._calls.append(ApiCall(method, copy.deepcopy(params), status))

    @property
    def api_calls(self) -> list[ApiCall]:
        """Every request so far, in order: (method, params, status)."""
        with self._state.cond:
            return list(self._calls)

    def calls(self, method: str) -> list[ApiCall]:
        """The logged requests to one method."""
        return [c for c in self.api_calls if c.method == method]

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` is truthy (re-checked on every change) or ``timeout`` passes."""
        with self._state.cond:
            return bool(self._state.cond.wait_for(predicate, timeout))
