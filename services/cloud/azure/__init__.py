"""The Azure backend: the only code that imports `azure.*`, always inside functions, so importing this
package (and the bot) stays fast and free of the SDKs."""

from __future__ import annotations

from services.cloud.azure.factory import build_azure_backend
from services.cloud.azure.logging import tame_sdk_loggers

__all__ = ["build_azure_backend", "tame_sdk_loggers"]
