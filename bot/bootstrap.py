"""The composition root: settings → services → app. The only place that chooses implementations."""

from __future__ import annotations

from bot.app import AmlBot, create_app
from bot.settings import Settings
from services.container import Services


def build_services(settings: Settings) -> Services:
    """The services for these settings (the cloud backend is wired as it lands)."""
    return Services()


def build_bot(settings: Settings) -> AmlBot:
    return create_app(settings, build_services(settings))
