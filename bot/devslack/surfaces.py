"""Payloads Slack sends about surfaces other than messages: Events API envelopes (app_home_opened), and
block_actions and view_submission from views (App Home, modals), with the view's state as Slack reports it."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .blocks import text_of
from .models import JSON, User, View
from .workspace import Workspace

SELECTS = frozenset({"static_select", "external_select", "users_select", "conversations_select", "channels_select"})


@dataclass(frozen=True)
class ViewElement:
    """One interactive element of a view, with the block that holds it."""

    block_id: str
    action_id: str
    element: JSON
    block: JSON


def elements(view: View) -> Iterator[ViewElement]:
    """The input and interactive elements of a view, in document order."""
    for block in view.definition.get("blocks") or []:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            found = [block["element"]]
        elif block.get("type") == "actions":
            found = [e for e in block.get("elements") or [] if isinstance(e, dict)]
        elif isinstance(block.get("accessory"), dict):
            found = [block["accessory"]]
        else:
            found = []
        for element in found:
            yield ViewElement(block_id, str(element.get("action_id", "")), element, block)


def find_element(view: View, *, block_id: str | None = None, action_id: str | None = None) -> ViewElement:
    matching = [
        e
        for e in elements(view)
        if (block_id is None or e.block_id == block_id) and (action_id is None or e.action_id == action_id)
    ]
    if len(matching) != 1:
        found = ", ".join(f"{e.block_id}/{e.action_id}" for e in elements(view))
        raise LookupError(f"{len(matching)} elements match block_id={block_id!r} action_id={action_id!r}: {found}")
    return matching[0]


def option_of(element: JSON, value: str) -> JSON:
    """The option of a select whose value (or shown text) is `value`."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    for option in options:
        if option.get("value") == value or text_of(option.get("text")) == value:
            return copy.deepcopy(option)
    raise LookupError(f"no option {value!r}; options: {[o.get('value') for o in options]}")


def element_state(element: JSON, value: str | None) -> JSON:
    """What `view.state.values` holds for an element set to `value` (None: left empty)."""
    kind = str(element.get("type"))
    if kind in SELECTS:
        return {"type": kind, "selected_option": option_of(element, value) if value is not None else None}
    return {"type": kind, "value": value}


def initial_value(element: JSON) -> str | None:
    """What the element shows before anyone touches it."""
    if element.get("type") in SELECTS:
        option = element.get("initial_option")
        return str(option.get("value")) if isinstance(option, dict) else None
    value = element.get("initial_value")
    return None if value is None else str(value)


def view_state(view: View, values: Mapping[str, str | None] | None = None) -> JSON:
    """The state of a view's inputs: their initial values, with `values` (block id → value) typed over them."""
    typed = dict(values or {})
    unknown = set(typed) - {e.block_id for e in elements(view)}
    if unknown:
        raise LookupError(f"the view has no input blocks {sorted(unknown)}")
    state: JSON = {}
    for found in elements(view):
        if found.block.get("type") != "input":
            continue
        value = typed[found.block_id] if found.block_id in typed else initial_value(found.element)
        state.setdefault(found.block_id, {})[found.action_id] = element_state(found.element, value)
    return {"values": state}


def view_object(workspace: Workspace, view: View, state: JSON) -> JSON:
    """The `view` of an interaction payload: the view as views.* return it, with its current state."""
    return {**view.to_api(workspace.team.id, workspace.bot), "state": state}


def _common(workspace: Workspace, who: User, token: str, trigger_id: str) -> JSON:
    team = workspace.team
    return {
        "user": {"id": who.id, "username": who.name, "name": who.name, "team_id": team.id},
        "api_app_id": workspace.bot.app_id,
        "token": token,
        "trigger_id": trigger_id,
        "team": {"id": team.id, "domain": team.domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def view_block_actions(
    workspace: Workspace,
    who: User,
    view: View,
    found: ViewElement,
    state: JSON,
    *,
    token: str,
    trigger_id: str,
    value: str | None = None,
) -> JSON:
    """A click or a choice in a view: no channel and no response_url, as Slack sends them from a Home or modal."""
    element = found.element
    action: JSON = {
        "action_id": found.action_id,
        "block_id": found.block_id,
        "type": element.get("type"),
        "action_ts": f"{time.time():.6f}",
    }
    if element.get("type") == "button":
        action["text"] = element.get("text")
        for optional in ("value", "style"):
            if element.get(optional) is not None:
                action[optional] = element[optional]
    elif element.get("type") in SELECTS:
        action["selected_option"] = option_of(element, str(value))
    else:
        action["value"] = value
    return {
        "type": "block_actions",
        **_common(workspace, who, token, trigger_id),
        "container": {"type": "view", "view_id": view.id},
        "view": view_object(workspace, view, state),
        "actions": [action],
    }


def view_submission(workspace: Workspace, who: User, view: View, state: JSON, *, token: str, trigger_id: str) -> JSON:
    return {
        "type": "view_submission",
        **_common(workspace, who, token, trigger_id),
        "view": view_object(workspace, view, state),
        "response_urls": [],
    }


def event_envelope(workspace: Workspace, event: JSON, *, token: str) -> JSON:
    """An Events API delivery of `event` (an `event_callback`)."""
    now = time.time()
    return {
        "token": token,
        "team_id": workspace.team.id,
        "api_app_id": workspace.bot.app_id,
        "event": {"event_ts": f"{now:.6f}", **event},
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(now),
        "authorizations": [{"team_id": workspace.team.id, "user_id": workspace.bot.user_id, "is_bot": True}],
        "is_ext_shared_channel": False,
    }


def app_home_opened(workspace: Workspace, who: User, *, tab: str = "home") -> JSON:
    """The event Slack sends when someone opens the app's Home (or Messages) tab."""
    home = workspace.views.home(who.id)
    event: JSON = {"type": "app_home_opened", "user": who.id, "channel": f"D_{who.id}", "tab": tab}
    if home is not None and tab == "home":
        event["view"] = home.to_api(workspace.team.id, workspace.bot)
    return event


def apply_view_response(workspace: Workspace, who: User, view: View, answer: Any) -> None:
    """Do what a view_submission's ack says: close the modal (empty ack, "clear"), update it, push one, or
    keep it open ("errors")."""
    action = answer.get("response_action") if isinstance(answer, dict) else None
    if action in (None, "clear"):
        workspace.views.close(who.id)
    elif action == "update":
        workspace.views.update(answer["view"], view_id=view.id, external_id=None, hash=None)
    elif action == "push":
        workspace.views.push(who.id, answer["view"])
