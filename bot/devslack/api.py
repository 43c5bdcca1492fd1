"""The Web API methods the local server implements, with Slack's arguments, answers and errors."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .blocks import MAX_VIEW_BLOCKS, parse_blocks
from .errors import SlackError
from .interactivity import Interactivity
from .models import JSON, Channel, Message
from .params import Params
from .workspace import Workspace

MAX_TEXT = 40_000


@dataclass
class ApiContext:
    """What a method handler may touch."""

    workspace: Workspace
    interactivity: Interactivity
    base_url: str


Handler = Callable[[ApiContext, Params], JSON]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for a Web API method name."""

    def register(handler: Handler) -> Handler:
        METHODS[name] = handler
        return handler

    return register


# -- shared argument handling ------------------------------------------------------------------


def _content(p: Params, *, required: bool) -> tuple[str | None, list[JSON] | None, list[JSON] | None]:
    """text, blocks and attachments; ``None`` for the ones not sent."""
    text = p.text("text")
    if text is not None and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    blocks = parse_blocks(p.structured("blocks", "invalid_blocks_format")) if "blocks" in p else None
    attachments = p.structured("attachments", "invalid_attachments") if "attachments" in p else None
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    if required and not text and not blocks and not attachments:
        raise SlackError("no_text")
    return text, blocks, attachments


def _target_channel(ctx: ApiContext, channel: str | None) -> Channel:
    """A channel id or ``#name``, or a user id meaning the DM with that user."""
    if channel and ctx.workspace.directory.user(channel):
        dm, _ = ctx.workspace.directory.open_dm(channel)
        return dm
    return ctx.workspace.directory.require_channel(channel)


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _page(p: Params, items: Sequence[Any], default_limit: int = 100) -> tuple[list[Any], str]:
    """One page of ``items`` per ``limit``/``cursor``, and the next cursor ('' at the end)."""
    try:
        cursor = p.text("cursor")
        offset = int(base64.b64decode(cursor).decode().split(":", 1)[1]) if cursor else 0
    except (ValueError, IndexError) as exc:
        raise SlackError("invalid_cursor") from exc
    limit = p.number("limit", default_limit) or default_limit
    page = list(items[offset : offset + limit])
    return page, _cursor(offset + limit) if offset + limit < len(items) else ""


def _api(ctx: ApiContext, message: Message, include_metadata: bool = False) -> JSON:
    return message.to_api(ctx.workspace.team.id, include_metadata=include_metadata)


# -- auth ----------------------------------------------------------------------------------------


@method("auth.test")
def auth_test(ctx: ApiContext, p: Params) -> JSON:
    """Identify the bot token."""
    team, bot = ctx.workspace.team, ctx.workspace.bot
    return {
        "url": ctx.base_url,
        "team": team.name,
        "user": bot.name,
        "team_id": team.id,
        "user_id": bot.user_id,
        "bot_id": bot.bot_id,
        "is_enterprise_install": False,
    }


# -- chat ----------------------------------------------------------------------------------------


@method("chat.postMessage")
def chat_post_message(ctx: ApiContext, p: Params) -> JSON:
    """Post a message, optionally in a thread."""
    channel = _target_channel(ctx, p.text("channel"))
    text, blocks, attachments = _content(p, required=True)
    message = ctx.workspace.post_message(
        channel.id,
        text=text or "",
        blocks=blocks or [],
        attachments=attachments or [],
        thread_ts=p.text("thread_ts"),
        reply_broadcast=p.flag("reply_broadcast"),
        mrkdwn=p.flag("mrkdwn", True),
        metadata=_metadata(p),
    )
    return {"channel": channel.id, "ts": message.ts, "message": _api(ctx, message)}


def _metadata(p: Params) -> JSON | None:
    metadata = p.structured("metadata", error="invalid_metadata_format")
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
        raise SlackError("invalid_metadata_format")
    return metadata


@method("chat.update")
def chat_update(ctx: ApiContext, p: Params) -> JSON:
    """Edit a bot message in place; omitted text/blocks/attachments are kept, as in Slack."""
    channel = ctx.workspace.directory.require_channel(p.text("channel"))
    ts = p.text("ts")
    existing = ctx.workspace.message(channel.id, ts or "")
    if existing is None or existing.deleted:
        raise SlackError("message_not_found")
    if existing.user != ctx.workspace.bot.user_id:
        raise SlackError("cant_update_message")
    text, blocks, attachments = _content(p, required=False)
    if text is None and blocks is None and attachments is None:
        raise SlackError("no_text")
    message = ctx.workspace.update_message(
        channel.id,
        existing.ts,
        text=text,
        blocks=blocks,
        attachments=attachments,
        edited_by=ctx.workspace.bot.user_id,
    )
    return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": _api(ctx, message)}


@method("chat.delete")
def chat_delete(ctx: ApiContext, p: Params) -> JSON:
    """Delete a bot message."""
    channel = ctx.workspace.directory.require_channel(p.text("channel"))
    existing = ctx.workspace.message(channel.id, p.text("ts") or "")
    if existing is None or existing.deleted:
        raise SlackError("message_not_found")
    if existing.user != ctx.workspace.bot.user_id:
        raise SlackError("cant_delete_message")
    ctx.workspace.delete_message(channel.id, existing.ts)
    return {"channel": channel.id, "ts": existing.ts}


@method("chat.postEphemeral")
def chat_post_ephemeral(ctx: ApiContext, p: Params) -> JSON:
    """Show a message to one member of the channel."""
    channel = _target_channel(ctx, p.text("channel"))
    user = ctx.workspace.directory.require_user(p.text("user"))
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks, attachments = _content(p, required=True)
    ephemeral = ctx.workspace.post_ephemeral(
        channel.id,
        user.id,
        text=text or "",
        blocks=blocks or [],
        attachments=attachments or [],
        thread_ts=p.text("thread_ts"),
    )
    return {"message_ts": ephemeral.ts}


@method("chat.getPermalink")
def chat_get_permalink(ctx: ApiContext, p: Params) -> JSON:
    """A link to a message."""
    channel = ctx.workspace.directory.require_channel(p.text("channel"))
    message = ctx.workspace.message(channel.id, p.text("message_ts") or "")
    if message is None or message.deleted:
        raise SlackError("message_not_found")
    link = f"{ctx.base_url}archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


# -- conversations -----------------------------------------------------------------------------


@method("conversations.history")
def conversations_history(ctx: ApiContext, p: Params) -> JSON:
    """Top-level messages (and broadcast replies), newest first."""
    channel = ctx.workspace.directory.require_channel(p.text("channel"))
    latest, oldest = float(p.text("latest") or "inf"), float(p.text("oldest") or "0")
    inclusive = p.flag("inclusive")

    def within(ts: float) -> bool:
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    found = [m for m in reversed(ctx.workspace.messages(channel.id)) if within(float(m.ts))]
    page, next_cursor = _page(p, found)
    return {
        "messages": [_api(ctx, m, p.flag("include_all_metadata")) for m in page],
        "has_more": bool(next_cursor),
        "pin_count": 0,
        "response_metadata": {"next_cursor": next_cursor},
    }


@method("conversations.replies")
def conversations_replies(ctx: ApiContext, p: Params) -> JSON:
    """A thread: the parent then its replies, oldest first."""
    channel = ctx.workspace.directory.require_channel(p.text("channel"))
    message = ctx.workspace.message(channel.id, p.text("ts") or "")
    if message is None:
        raise SlackError("thread_not_found")
    parent_ts = message.thread_ts or message.ts
    parent = ctx.workspace.message(channel.id, parent_ts)
    thread = [m for m in [parent] if m and not m.deleted] + ctx.workspace.replies(channel.id, parent_ts)
    page, next_cursor = _page(p, thread, default_limit=1000)
    return {
        "messages": [_api(ctx, m, p.flag("include_all_metadata")) for m in page],
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }


@method("conversations.info")
def conversations_info(ctx: ApiContext, p: Params) -> JSON:
    """One conversation."""
    return {"channel": ctx.workspace.directory.require_channel(p.text("channel")).to_api()}


@method("conversations.open")
def conversations_open(ctx: ApiContext, p: Params) -> JSON:
    """Open (or find) the DM with one user."""
    users = [u for u in (p.text("users") or "").split(",") if u]
    if p.text("channel"):
        channel, existed = ctx.workspace.directory.require_channel(p.text("channel")), True
    elif len(users) == 1:
        channel, existed = ctx.workspace.directory.open_dm(users[0])
    elif not users:
        raise SlackError("users_list_not_supplied")
    else:
        raise SlackError("not_supported", detail="multi-person DMs are not simulated locally")
    shape = channel.to_api() if p.flag("return_im") else {"id": channel.id}
    return {"channel": shape, "no_op": existed, "already_open": existed}


# -- users and groups --------------------------------------------------------------------------


@method("users.info")
def users_info(ctx: ApiContext, p: Params) -> JSON:
    """One user."""
    user = ctx.workspace.directory.require_user(p.text("user"))
    return {"user": user.to_api(ctx.workspace.team.id)}


@method("users.lookupByEmail")
def users_lookup_by_email(ctx: ApiContext, p: Params) -> JSON:
    """A user by email address."""
    email = (p.text("email") or "").lower()
    user = next((u for u in ctx.workspace.directory.users() if u.email and u.email.lower() == email), None)
    if user is None:
        raise SlackError("users_not_found")
    return {"user": user.to_api(ctx.workspace.team.id)}


@method("users.list")
def users_list(ctx: ApiContext, p: Params) -> JSON:
    """All users, paginated."""
    page, next_cursor = _page(p, ctx.workspace.directory.users(), default_limit=200)
    team_id = ctx.workspace.team.id
    return {
        "members": [u.to_api(team_id) for u in page],
        "cache_ts": 1700000000,
        "response_metadata": {"next_cursor": next_cursor},
    }


@method("usergroups.list")
def usergroups_list(ctx: ApiContext, p: Params) -> JSON:
    """All user groups."""
    include = p.flag("include_users")
    team_id = ctx.workspace.team.id
    return {
        "usergroups": [g.to_api(team_id, include_users=include) for g in ctx.workspace.directory.usergroups()]
    }


@method("usergroups.users.list")
def usergroups_users_list(ctx: ApiContext, p: Params) -> JSON:
    """The members of a user group."""
    group = ctx.workspace.directory.usergroup(p.text("usergroup") or "")
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group.users)}


# -- views ---------------------------------------------------------------------------------------


def _view_arg(p: Params, *, kind: str | None = None) -> JSON:
    view = p.structured("view", "invalid_arguments")
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] invalid `view`"]})
    if kind and view["type"] != kind:
        raise SlackError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] view must be {kind}"]}
        )
    if view["type"] == "modal" and not view.get("title"):
        raise SlackError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing title"]})
    parse_blocks(view.get("blocks") or [], limit=MAX_VIEW_BLOCKS)
    return view


def _view_answer(ctx: ApiContext, view: Any) -> JSON:
    return {"view": view.to_api(ctx.workspace.team.id, ctx.workspace.bot)}


@method("views.open")
def views_open(ctx: ApiContext, p: Params) -> JSON:
    """Open a modal for the user a trigger id was issued to."""
    view = _view_arg(p, kind="modal")
    user = ctx.interactivity.redeem_trigger(p.text("trigger_id"))
    return _view_answer(ctx, ctx.workspace.views.open(user, view))


@method("views.push")
def views_push(ctx: ApiContext, p: Params) -> JSON:
    """Push a modal on the user's stack."""
    view = _view_arg(p, kind="modal")
    user = ctx.interactivity.redeem_trigger(p.text("trigger_id"))
    return _view_answer(ctx, ctx.workspace.views.push(user, view))


@method("views.update")
def views_update(ctx: ApiContext, p: Params) -> JSON:
    """Replace a view by ``view_id`` or ``external_id``."""
    view = _view_arg(p)
    view_id, external_id = p.text("view_id"), p.text("external_id")
    if not view_id and not external_id:
        raise SlackError("invalid_arguments")
    updated = ctx.workspace.views.update(view, view_id=view_id, external_id=external_id, hash=p.text("hash"))
    return _view_answer(ctx, updated)


@method("views.publish")
def views_publish(ctx: ApiContext, p: Params) -> JSON:
    """Publish a user's App Home."""
    view = _view_arg(p, kind="home")
    user = ctx.workspace.directory.require_user(p.text("user_id"))
    return _view_answer(ctx, ctx.workspace.views.publish(user.id, view, hash=p.text("hash")))


# -- files (upload v2) -------------------------------------------------------------------------


@method("files.getUploadURLExternal")
def files_get_upload_url_external(ctx: ApiContext, p: Params) -> JSON:
    """Reserve a file id and hand out the URL to POST its bytes to."""
    filename, length = p.text("filename"), p.number("length", -1)
    if not filename or length < 0:
        raise SlackError("invalid_arguments")
    file_id = ctx.workspace.files.reserve(
        filename,
        length,
        ctx.workspace.bot.user_id,
        alt_txt=p.text("alt_txt"),
        snippet_type=p.text("snippet_type"),
    )
    return {"upload_url": f"{ctx.base_url}upload/{file_id}", "file_id": file_id}


@method("files.completeUploadExternal")
def files_complete_upload_external(ctx: ApiContext, p: Params) -> JSON:
    """Finish uploads and share them (with ``initial_comment``) in a channel or thread."""
    items = p.structured("files")
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(i, dict) and i.get("id") for i in items)
    ):
        raise SlackError("invalid_arguments")
    channel_arg = p.text("channel_id") or (p.text("channels") or "").split(",")[0] or None
    channel = _target_channel(ctx, channel_arg) if channel_arg else None
    thread_ts = p.text("thread_ts")
    if thread_ts and channel is None:
        raise SlackError("invalid_arguments")
    if channel and thread_ts and ctx.workspace.message(channel.id, thread_ts) is None:
        raise SlackError("invalid_thread_ts")  # checked before completing, so nothing is half done
    done = ctx.workspace.files.complete(
        [(str(i["id"]), i.get("title")) for i in items],
        channel=channel.id if channel else None,
        thread_ts=thread_ts,
    )
    shapes = [f.to_api(ctx.base_url) for f in done]
    if channel:
        # Slack shows shared files as a message from the uploader, in the thread if one was given.
        ctx.workspace.post_message(
            channel.id, text=p.text("initial_comment") or "", files=shapes, thread_ts=thread_ts
        )
    return {"files": shapes}


@method("files.info")
def files_info(ctx: ApiContext, p: Params) -> JSON:
    """One uploaded file."""
    found = ctx.workspace.files.get(p.text("file") or "")
    if found is None or not found.completed:
        raise SlackError("file_not_found")
    return {"file": found.to_api(ctx.base_url)}


@method("files.upload")
def files_upload(ctx: ApiContext, p: Params) -> JSON:
    """The retired v1 upload: Slack now refuses it."""
    raise SlackError("method_deprecated")
