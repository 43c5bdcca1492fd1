"""Errors services raise, each with a message written for the person who asked."""

from __future__ import annotations


class ServiceError(Exception):
    """A failure a person can act on; `str(err)` is safe to show in Slack."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class InvalidName(ServiceError):
    """A resource name breaks Azure's naming rule (checked before any call)."""


class InvalidInput(ServiceError):
    """A value (template, override, option) is not acceptable."""


class NotFound(ServiceError):
    """The named resource does not exist."""


class AlreadyExists(ServiceError):
    """A resource with that name already exists."""


class NameTaken(ServiceError):
    """A globally unique name (storage account) is used by someone else."""


class QuotaExceeded(ServiceError):
    """The subscription's quota does not allow this."""


class Forbidden(ServiceError):
    """The bot's identity lacks a role; `role` names the one it needs when known."""

    def __init__(self, message: str, *, role: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.role = role


class Throttled(ServiceError):
    """Azure asked us to slow down; `retry_after` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class InvalidState(ServiceError):
    """The resource is in a state that does not allow the operation (e.g. start a running instance)."""


class OperationFailed(ServiceError):
    """A long-running operation ended in failure."""


class BackendUnavailable(ServiceError):
    """The backend could not be reached or answered unexpectedly."""
