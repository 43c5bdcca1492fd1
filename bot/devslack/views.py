"""Modal stacks and App Home tabs, per user."""

from __future__ import annotations

import copy
import hashlib
import itertools

from .errors import SlackError
from .models import JSON, View
from .state import SharedState

MAX_STACK = 3  # Slack allows at most three modals in a stack.


def _hash(definition: JSON, counter: int) -> str:
    digest = hashlib.sha1(repr((counter, definition)).encode(), usedforsecurity=False).hexdigest()
    return f"{1700000000 + counter}.{digest[:8]}"


class ViewStore:
    """Every view ever opened, plus each user's modal stack and home tab."""

    def __init__(self, state: SharedState) -> None:
        self._state = state
        self._views: dict[str, View] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._ids = itertools.count(1)

    def _new(self, user: str, definition: JSON, *, root: str | None, previous: str | None) -> View:
        n = next(self._ids)
        view_id = f"V{n:07d}"
        view = View(
            id=view_id,
            user=user,
            definition=copy.deepcopy(definition),
            hash=_hash(definition, n),
            external_id=definition.get("external_id"),
            root_view_id=root or view_id,
            previous_view_id=previous,
        )
        if view.external_id and any(v.external_id == view.external_id for v in self._views.values()):
            raise SlackError("duplicate_external_id")
        self._views[view_id] = view
        return view

    def open(self, user: str, definition: JSON) -> View:
        """Open a modal, replacing the user's stack."""
        with self._state.change():
            view = self._new(user, definition, root=None, previous=None)
            self._stacks[user] = [view.id]
            return copy.deepcopy(view)

    def push(self, user: str, definition: JSON) -> View:
        """Push a modal on top of the user's open stack."""
        with self._state.change():
            stack = self._stacks.get(user) or []
            if not stack:
                raise SlackError("not_found")
            if len(stack) >= MAX_STACK:
                raise SlackError("push_limit_reached")
            view = self._new(user, definition, root=stack[0], previous=stack[-1])
            stack.append(view.id)
            return copy.deepcopy(view)

    def update(
        self, definition: JSON, *, view_id: str | None, external_id: str | None, hash: str | None
    ) -> View:
        """Replace a view's content in place (same id, new hash)."""
        with self._state.change():
            view = self._views.get(view_id or "") if view_id else None
            if view is None and external_id:
                view = next((v for v in self._views.values() if v.external_id == external_id), None)
            if view is None:
                raise SlackError("not_found")
            if hash and hash != view.hash:
                raise SlackError("hash_conflict")
            view.definition = copy.deepcopy(definition)
            view.external_id = definition.get("external_id", view.external_id)
            view.hash = _hash(definition, next(self._ids))
            return copy.deepcopy(view)

    def publish(self, user: str, definition: JSON, *, hash: str | None) -> View:
        """Publish (create or replace) the user's App Home view."""
        with self._state.change():
            current = self._views.get(self._homes.get(user, ""))
            if current is not None and hash and hash != current.hash:
                raise SlackError("hash_conflict")
            if current is None:
                current = self._new(user, definition, root=None, previous=None)
                self._homes[user] = current.id
            else:
                current.definition = copy.deepcopy(definition)
                current.hash = _hash(definition, next(self._ids))
            return copy.deepcopy(current)

    def close(self, user: str) -> None:
        """Close the user's modal stack (as when they press Cancel)."""
        with self._state.change():
            self._stacks.pop(user, None)

    def get(self, view_id: str) -> View | None:
        """A view by id."""
        with self._state.cond:
            view = self._views.get(view_id)
            return copy.deepcopy(view) if view else None

    def home(self, user: str) -> View | None:
        """The App Home view published for the user."""
        with self._state.cond:
            view = self._views.get(self._homes.get(user, ""))
            return copy.deepcopy(view) if view else None

    def stack(self, user: str) -> list[View]:
        """The user's open modals, bottom first."""
        with self._state.cond:
            return [copy.deepcopy(self._views[v]) for v in self._stacks.get(user, [])]

    def all(self) -> list[View]:
        """Every view, in creation order."""
        with self._state.cond:
            return [copy.deepcopy(v) for v in self._views.values()]
