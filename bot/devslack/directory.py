"""Who and where: the team, its users, channels, DMs and user groups."""

from __future__ import annotations

from .errors import SlackError
from .models import BotIdentity, Channel, Team, User, UserGroup
from .state import SharedState


class Directory:
    """Users, channels and user groups of one team; DMs are created on demand."""

    def __init__(self, state: SharedState, team: Team, bot: BotIdentity) -> None:
        self._state = state
        self.team = team
        self.bot = bot
        self._users: dict[str, User] = {}
        self._channels: dict[str, Channel] = {}
        self._groups: dict[str, UserGroup] = {}
        self.add_user(User(id=bot.user_id, name=bot.name, real_name=bot.name, is_bot=True))

    def add_user(self, user: User) -> None:
        """Add or replace a user."""
        with self._state.change():
            self._users[user.id] = user

    def add_channel(self, channel: Channel) -> None:
        """Add or replace a channel."""
        with self._state.change():
            self._channels[channel.id] = channel

    def add_usergroup(self, group: UserGroup) -> None:
        """Add or replace a user group."""
        with self._state.change():
            self._groups[group.id] = group

    def user(self, user_id: str) -> User | None:
        """The user with this id."""
        with self._state.cond:
            return self._users.get(user_id)

    def find_user(self, key: str) -> User | None:
        """A user by id, name (``@`` optional) or email."""
        key = key.lstrip("@")
        with self._state.cond:
            if key in self._users:
                return self._users[key]
            return next((u for u in self._users.values() if key in (u.name, u.email)), None)

    def users(self) -> list[User]:
        """All users, the bot included."""
        with self._state.cond:
            return list(self._users.values())

    def channel(self, channel_id: str) -> Channel | None:
        """The channel or DM with this id."""
        with self._state.cond:
            return self._channels.get(channel_id)

    def find_channel(self, name_or_id: str) -> Channel | None:
        """A channel by id or name (``#`` optional)."""
        key = name_or_id.lstrip("#")
        with self._state.cond:
            if key in self._channels:
                return self._channels[key]
            return next((c for c in self._channels.values() if c.name == key and not c.is_im), None)

    def channels(self) -> list[Channel]:
        """All channels and open DMs."""
        with self._state.cond:
            return list(self._channels.values())

    def require_channel(self, channel_id: str | None) -> Channel:
        """The channel, or ``channel_not_found`` as Slack answers."""
        channel = self.find_channel(channel_id) if channel_id else None
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def require_user(self, user_id: str | None) -> User:
        """The user, or ``user_not_found`` as Slack answers."""
        user = self.user(user_id) if user_id else None
        if user is None:
            raise SlackError("user_not_found")
        return user

    def open_dm(self, user_id: str) -> tuple[Channel, bool]:
        """The DM channel ``D_<user>`` with the bot, and whether it already existed."""
        self.require_user(user_id)
        channel_id = f"D_{user_id}"
        with self._state.change():
            existing = self._channels.get(channel_id)
            if existing:
                return existing, True
            dm = Channel(
                id=channel_id, name=channel_id, members=(user_id, self.bot.user_id), is_im=True, user=user_id
            )
            self._channels[channel_id] = dm
            return dm, False

    def usergroup(self, group_id: str) -> UserGroup | None:
        """The user group with this id (or ``handle``)."""
        with self._state.cond:
            if group_id in self._groups:
                return self._groups[group_id]
            return next((g for g in self._groups.values() if g.handle == group_id.lstrip("@")), None)

    def usergroups(self) -> list[UserGroup]:
        """All user groups."""
        with self._state.cond:
            return list(self._groups.values())

    def name_of(self, user_id: str) -> str:
        """The handle of a user, falling back to the raw id."""
        user = self.user(user_id)
        return user.name if user else user_id
