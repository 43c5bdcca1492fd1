"""The driver's part for surfaces other than messages: Events API events (``app_home_opened``), and clicks,
choices and submissions in views (App Home, modals). Mixed into ``SlackDriver``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import surfaces
from .blocks import buttons, pick_button
from .models import JSON, User, View

if TYPE_CHECKING:
    from .driver import DriverResponse
    from .server import LocalSlack


class ViewDriving:
    """Needs the driver's ``local_slack``, ``verification_token``, ``_user`` and ``_deliver``."""

    local_slack: LocalSlack
    verification_token: str

    def _user(self, key: str) -> User:
        raise NotImplementedError

    def _deliver(self, payload: JSON, *, as_json: bool = False) -> DriverResponse:
        raise NotImplementedError

    # -- events ---------------------------------------------------------------------------------

    def send_event(self, event: JSON) -> DriverResponse:
        """Deliver an Events API event as Slack posts it: a signed JSON ``event_callback`` envelope."""
        workspace = self.local_slack.workspace
        return self._deliver(surfaces.event_envelope(workspace, event, token=self.verification_token), as_json=True)

    def open_home(self, user: str, *, tab: str = "home") -> DriverResponse:
        """``user`` opens the app's Home tab (``app_home_opened``); read what the bot published with ``home``."""
        return self.send_event(surfaces.app_home_opened(self.local_slack.workspace, self._user(user), tab=tab))

    # -- reading views --------------------------------------------------------------------------

    def home(self, user: str) -> View | None:
        """The Home view published for ``user`` (None before the bot publishes one)."""
        return self.local_slack.workspace.views.home(self._user(user).id)

    def modal(self, user: str) -> View | None:
        """The modal ``user`` has open (the top of their stack), or None."""
        stack = self.local_slack.workspace.views.stack(self._user(user).id)
        return stack[-1] if stack else None

    # -- acting in views ------------------------------------------------------------------------

    def click_in_view(
        self,
        user: str,
        *,
        view_id: str | None = None,
        action_index: int | None = None,
        action_id: str | None = None,
        value: str | None = None,
    ) -> DriverResponse:
        """Click a button of a view ``user`` sees (default: their Home), numbered as ``render_view`` shows."""
        who = self._user(user)
        view = self._view(who, view_id, home=True)
        button = pick_button(buttons(view.definition), action_index, action_id, value)
        found = surfaces.ViewElement(button.block_id, button.action_id, button.element, {})
        return self._action(who, view, found, surfaces.view_state(view), None)

    def choose_in_view(
        self,
        user: str,
        value: str,
        *,
        block_id: str | None = None,
        action_id: str | None = None,
        view_id: str | None = None,
        values: dict[str, str | None] | None = None,
    ) -> DriverResponse:
        """Pick ``value`` (an option's value or text) in a select of ``user``'s open modal (default), as a
        ``dispatch_action`` select reports it; ``values`` are other inputs typed before."""
        who = self._user(user)
        view = self._view(who, view_id, home=False)
        found = surfaces.find_element(view, block_id=block_id, action_id=action_id)
        state = surfaces.view_state(view, {**(values or {}), found.block_id: value})
        return self._action(who, view, found, state, value)

    def submit_view(
        self, user: str, *, values: dict[str, str | None] | None = None, view_id: str | None = None
    ) -> DriverResponse:
        """Press Submit on ``user``'s open modal with ``values`` typed (input block id → text or option value;
        the others keep their initial values). The modal then closes, changes or stays as the bot's ack says."""
        who = self._user(user)
        view = self._view(who, view_id, home=False)
        workspace, trigger = self.local_slack.workspace, self.local_slack.new_trigger_id(who.id)
        state = surfaces.view_state(view, values)
        token = self.verification_token
        response = self._deliver(surfaces.view_submission(workspace, who, view, state, token=token, trigger_id=trigger))
        if response.status == 200:
            surfaces.apply_view_response(workspace, who, view, response.json() if response.body else None)
        return response

    def _action(
        self, who: User, view: View, found: surfaces.ViewElement, state: JSON, value: str | None
    ) -> DriverResponse:
        payload = surfaces.view_block_actions(
            self.local_slack.workspace,
            who,
            view,
            found,
            state,
            token=self.verification_token,
            trigger_id=self.local_slack.new_trigger_id(who.id),
            value=value,
        )
        return self._deliver(payload)

    def _view(self, who: User, view_id: str | None, *, home: bool) -> View:
        views = self.local_slack.workspace.views
        if view_id:
            found = views.get(view_id)
        elif home:
            found = views.home(who.id)
        else:
            stack = views.stack(who.id)
            found = stack[-1] if stack else None
        if found is None:
            raise LookupError(f"{who.name} has no {'such view' if view_id else 'Home' if home else 'open modal'}")
        return found
