"""The local Slack workspace: a fake Slack Web API server plus a driver that signs requests like Slack."""

from .blocks import Button, buttons
from .driver import DriverResponse, SlackDriver
from .errors import SlackError
from .models import ApiCall, Channel, Ephemeral, Message, UploadedFile, User, UserGroup, View
from .render import RenderMarker, render_channel, render_new, render_view
from .seed import load_seed
from .server import LocalSlack
from .workspace import Workspace

__all__ = [
    "ApiCall",
    "Button",
    "Channel",
    "DriverResponse",
    "Ephemeral",
    "LocalSlack",
    "Message",
    "RenderMarker",
    "SlackDriver",
    "SlackError",
    "UploadedFile",
    "User",
    "UserGroup",
    "View",
    "Workspace",
    "buttons",
    "load_seed",
    "render_channel",
    "render_new",
    "render_view",
]
