"""One mapping from Azure SDK exceptions to services.errors, with secrets scrubbed from every message."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from services.errors import (
    AlreadyExists,
    BackendUnavailable,
    Forbidden,
    InvalidInput,
    InvalidState,
    NameTaken,
    NotFound,
    OperationFailed,
    QuotaExceeded,
    ServiceError,
    Throttled,
)
from services.redaction import redact as redact_secrets

log = logging.getLogger(__name__)


def redact(text: str) -> str:
    """Remove anything that looks like a key, SAS token, bearer token or connection-string secret.

    The one implementation is services.redaction; Azure error texts keep their historical "***" mask.
    """
    return redact_secrets(text, mask="***")


def _http_details(exc: Any) -> tuple[int | None, str | None, str]:
    """(status, error code, message) of an azure.core HttpResponseError, as far as it carries them."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    # azure-storage-blob puts its code (ContainerAlreadyExists, BlobNotFound...) on `error_code`.
    code = getattr(error, "code", None) or getattr(exc, "error_code", None) or None
    code = str(getattr(code, "value", code)) if code is not None else None
    message = getattr(error, "message", None) or None
    if message is None:
        text = str(getattr(exc, "message", None) or exc)
        # "(Code) message\nCode: ...\nMessage: ..." → the first line without the code prefix.
        message = re.sub(r"^\(\w+\)\s*", "", text.strip().splitlines()[0]) if text.strip() else ""
    return status, code, message.strip()


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name in ("Retry-After", "retry-after", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            return None
        return seconds / 1000 if name == "x-ms-retry-after-ms" else seconds
    return None


_AUTHZ = re.compile(r"perform action '(?P<action>[^']+)' over scope '(?P<scope>[^']+)'")
_FRIENDLY_TYPES = {
    "storageaccounts": "storage account",
    "workspaces": "workspace",
    "computes": "compute",
    "jobs": "job",
    "containers": "container",
    "vaults": "key vault",
    "registries": "container registry",
    "components": "resource",
}


def describe_scope(scope: str) -> str:
    """'/subscriptions/s/resourceGroups/rg' → "the resource group `rg`"."""
    parts = [p for p in scope.strip().strip("/").split("/") if p]
    if len(parts) <= 2:
        return "the subscription"
    if len(parts) <= 4 and parts[2].lower() == "resourcegroups":
        return f"the resource group `{parts[3]}`" if len(parts) == 4 else "the subscription"
    kind = _FRIENDLY_TYPES.get(parts[-2].lower(), "resource") if len(parts) >= 2 else "resource"
    return f"the {kind} `{parts[-1]}`"


def role_for(action: str) -> str:
    """The built-in role that grants an ARM action, as a person would ask for it."""
    lowered = action.lower()
    if lowered.startswith("microsoft.authorization/roleassignments/"):
        return "Owner (or User Access Administrator)"
    if "/blobservices/containers/blobs/" in lowered:
        return "Storage Blob Data Contributor"
    if lowered.startswith("microsoft.machinelearningservices/workspaces/") and any(
        part in lowered
        for part in ("/jobs/", "/experiments/", "/models/", "/computes/start", "/computes/stop", "/computes/restart")
    ):
        return "AzureML Data Scientist"
    if lowered.endswith("/read"):
        return "Reader"
    return "Contributor"


def _forbidden(code: str | None, message: str, what: str) -> Forbidden:
    match = _AUTHZ.search(message)
    if match:
        action, scope = match.group("action"), match.group("scope")
        role = f"{role_for(action)} on {describe_scope(scope)}"
        return Forbidden(
            f"The bot's Azure identity is not allowed to do `{action}` on {what}.",
            role=role,
            hint=f"Ask an owner to grant it {role}; new role assignments take a few minutes to apply.",
        )
    if code == "AuthorizationPermissionMismatch":  # blob data plane with a token but no data role
        role = "Storage Blob Data Contributor on the storage account"
        return Forbidden(
            f"The bot's Azure identity may not read or write the blobs of {what}.",
            role=role,
            hint=f"Ask an owner to grant it {role}; new role assignments take a few minutes to apply.",
        )
    return Forbidden(
        f"The bot's Azure identity is not allowed to access {what} ({code or 'Forbidden'}).",
        hint="Ask an owner to check its role assignments (usually Contributor on the resource group).",
    )


# e.g. StartComputeInstanceOnlyAllowedInStoppedState, AnotherOperationInProgress, ResourceGroupBeingDeleted.
_STATE_CODE = re.compile(r"(?i)(OnlyAllowedIn|NotAllowed|InvalidState|InProgress|BeingDeleted|State$)")
_MAX_SAID = 300
_NAME_TAKEN_CODES = frozenset({"storageaccountalreadytaken"})
_NOT_FOUND_CODE = re.compile(r"(?i)NotFound$")
_EXISTS_CODE = re.compile(r"(?i)AlreadyExists$")


def to_service_error(exc: BaseException, *, what: str = "the resource") -> ServiceError | None:
    """The ServiceError a person should see for an Azure SDK exception; None when it is not one."""
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ServiceError):
        return exc
    if _is_ml_user_error(exc):
        return InvalidInput(f"Azure ML rejected {what}: {redact(ml_error_summary(str(exc)))}")
    if not isinstance(exc, AzureError):
        return None
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return BackendUnavailable(
            f"Could not reach Azure for {what}.", hint="It is probably a network problem; try again in a minute."
        )
    if getattr(exc, "status_code", None) == 401 or (
        isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) is None
    ):
        return BackendUnavailable(
            "The bot could not sign in to Azure.",
            hint="Check its identity (managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID, or `az login`).",
        )
    if not isinstance(exc, HttpResponseError):
        return BackendUnavailable(f"Azure failed on {what}: {redact(_first_line(str(exc)))}")

    status, code, message = _http_details(exc)
    message = redact(message)
    if len(message) > _MAX_SAID:  # ARM messages can run to pages; Slack needs the gist
        message = message[: _MAX_SAID - 1].rstrip() + "…"
    lowered = (code or "").lower()
    said = f" Azure said: {message}" if message else ""
    if status == 429 or lowered in ("toomanyrequests", "throttled"):
        retry_after = _retry_after(exc)
        wait = f"in {retry_after:g} s" if retry_after is not None else "in a minute"
        return Throttled(
            f"Azure is throttling requests for {what}.", retry_after=retry_after, hint=f"Try again {wait}."
        )
    if status == 403 or lowered in ("authorizationfailed", "linkedauthorizationfailed", "forbidden"):
        return _forbidden(code, message, what)
    if "quota" in lowered or ("quota" in message.lower() and status in (400, 409, None)):
        return QuotaExceeded(
            f"The subscription's quota does not allow {what}.{said}",
            hint="Pick a smaller size or ask for a quota increase in the Azure portal.",
        )
    if lowered in _NAME_TAKEN_CODES:
        return NameTaken(
            f"The name of {what} is already used by someone else in Azure.",
            hint="Storage account names are global: pick another one.",
        )
    if lowered == "invalidresourcegrouplocation":  # ARM's 409 for a PUT of an existing group elsewhere
        return _group_cannot_move(message, what)
    if code and _STATE_CODE.search(code):
        return InvalidState(f"{_cap(what)} is not in a state that allows this ({code}).{said}")
    if _failed_lro(exc):
        return OperationFailed(f"The operation on {what} failed" + (f" ({code})" if code else "") + f".{said}")
    if isinstance(exc, ResourceNotFoundError) or status == 404 or (code and _NOT_FOUND_CODE.search(code)):
        return NotFound(
            f"{_cap(what)} was not found.", hint="Check the name and the resource group or workspace it belongs to."
        )
    if isinstance(exc, ResourceExistsError) or status == 409 or (code and _EXISTS_CODE.search(code)):
        return AlreadyExists(f"{_cap(what)} already exists.{said}")
    if status is not None and 400 <= status < 500:
        return InvalidInput(f"Azure rejected the request for {what}" + (f" ({code})" if code else "") + f".{said}")
    return BackendUnavailable(
        f"Azure failed on {what}" + (f" (HTTP {status})" if status else "") + f".{said}", hint="Try again later."
    )


# "Invalid resource group location 'westeurope'. The Resource group already exists in location 'eastus'."
_GROUP_LOCATIONS = re.compile(
    r"(?i)location '(?P<asked>[^']+)'.*already exists in location '(?P<existing>[^']+)'", re.DOTALL
)


def _group_cannot_move(message: str, what: str) -> InvalidInput:
    match = _GROUP_LOCATIONS.search(message)
    if match is None:
        return InvalidInput(
            f"{_cap(what)} already exists in another location; resource groups cannot move.",
            hint="Use the group's own location or another group name.",
        )
    existing, asked = match["existing"], match["asked"]
    return InvalidInput(
        f"{_cap(what)} already exists in `{existing}`; resource groups cannot move, "
        f"so its location cannot change to `{asked}`.",
        hint=f"Use location `{existing}` or another group name.",
    )


def _is_ml_user_error(exc: BaseException) -> bool:
    """azure.ai.ml validation errors (bad YAML, bad entity); checked without importing azure.ai.ml."""
    ml_exceptions = sys.modules.get("azure.ai.ml.exceptions")
    if ml_exceptions is not None and isinstance(exc, ml_exceptions.MlException):
        return True
    return type(exc).__name__ == "ValidationError" and (type(exc).__module__ or "").startswith("marshmallow")


def _leaves(node: Any, path: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list) and node and all(isinstance(item, str) for item in node):
        yield f"{path}: {node[0]}" if path else node[0]
    elif isinstance(node, list) and node:
        yield from _leaves(node[0], path)  # a union's alternatives: the first says enough
    elif isinstance(node, str):
        yield f"{path}: {node}" if path else node


def ml_error_summary(text: str, *, limit: int = 2) -> str:
    """The useful part of an azure.ai.ml validation error (nested JSON reports) in one line."""
    for _ in range(4):  # reports nest: {"errors": [{"message": "Validation ... failed: {...}"}]}
        start = text.find("{", text.find("failed:") + 1 if "failed:" in text else 0)
        if start < 0:
            break
        try:
            report, _end = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            break
        errors = report.get("errors") if isinstance(report, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and "message" in errors[0]:
            text = str(errors[0]["message"])
            continue
        leaves = list(_leaves(report, ""))[:limit]
        if leaves:
            return "; ".join(leaves)
        break
    return _first_line(text)


def _failed_lro(exc: BaseException) -> bool:
    """True when the exception comes from an LRO poller that saw status Failed/Canceled."""
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ == "OperationFailed" and "polling" in (type(cause).__module__ or "")


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


@contextmanager
def azure_errors(what: str) -> Iterator[None]:
    """Translate Azure SDK exceptions raised inside the block into ServiceErrors about `what`."""
    try:
        yield
    except ServiceError:
        raise
    except Exception as exc:
        mapped = to_service_error(exc, what=what)
        if mapped is None:
            raise
        log.debug("Azure call for %s failed: %s: %s", what, type(exc).__name__, redact(str(exc)))
        # `from None`: the SDK exception may quote request URLs or bodies; keep them out of tracebacks.
        raise mapped from None
