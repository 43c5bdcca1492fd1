"""The permission configuration the bot starts with: AMLBOT_PERMISSIONS, or a safe default when it is unset."""

from __future__ import annotations

import logging

from bot.settings import Settings, SettingsError
from services.rbac import PermissionConfig, PermissionConfigError, Role

logger = logging.getLogger(__name__)


def load_permissions(settings: Settings) -> PermissionConfig:
    """Parse AMLBOT_PERMISSIONS (JSON or a file path); unset: everyone is an operator and nobody may delete."""
    value = (settings.permissions or "").strip()
    if not value:
        logger.warning(
            "AMLBOT_PERMISSIONS is not set: everyone may run every command except deletions, "
            "which nobody may request until an admin is configured (README: Permissions)"
        )
        return PermissionConfig(default_role=Role.OPERATOR)
    try:
        if value.startswith("{"):
            return PermissionConfig.from_json(value)
        return PermissionConfig.from_file(value)
    except PermissionConfigError as err:
        raise SettingsError(f"aml-bot cannot start: AMLBOT_PERMISSIONS: {err}") from None
