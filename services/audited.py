"""Every Azure mutation a command makes, with its result, in the audit trail.

`audited_backend(backend, audit)` wraps the ports' mutating methods (create, start, stop, scale, delete, submit,
cancel, register). A plain call is recorded when it returns or raises; a long-running one (`begin_…`) as
"started" when it is accepted, then "ok" / "failed" when its result is first awaited. Who did it comes from
`acting(user, channel)`, which the router sets around each handler (a contextvar, so threads do not mix).
Reads pass through untouched. Deletions approved through ApprovalService are recorded by it instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

from services.audit import AZURE_MUTATION, AuditLog
from services.ports import CloudBackend, Computes, Jobs, Models, ResourceGroups, Storage, Workspaces

log = logging.getLogger(__name__)

MUTATIONS: dict[str, frozenset[str]] = {
    "resource_groups": frozenset({"create_or_update", "begin_delete"}),
    "storage": frozenset({"begin_create_account", "create_container", "delete_account"}),
    "workspaces": frozenset({"begin_create", "begin_delete"}),
    "computes": frozenset(
        {
            "begin_create_instance",
            "begin_create_cluster",
            "begin_start",
            "begin_stop",
            "begin_scale_to_zero",
            "begin_delete",
        }
    ),
    "jobs": frozenset({"submit", "rerun", "cancel"}),
    "models": frozenset({"register"}),
}


@dataclass(frozen=True)
class Actor:
    user: str | None
    channel: str | None


NOBODY = Actor(None, None)  # a change made outside any command (the bot itself)
_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


@contextlib.contextmanager
def acting(user: str | None, channel: str | None) -> Iterator[None]:
    """Attribute the mutations made inside this block to `user` in `channel`."""
    token = _actor.set(Actor(user, channel))
    try:
        yield
    finally:
        _actor.reset(token)


def audited_backend(backend: CloudBackend, audit: AuditLog) -> CloudBackend:
    return replace(
        backend,
        resource_groups=cast(ResourceGroups, _AuditedPort(backend.resource_groups, "resource_groups", audit)),
        storage=cast(Storage, _AuditedPort(backend.storage, "storage", audit)),
        workspaces=cast(Workspaces, _AuditedPort(backend.workspaces, "workspaces", audit)),
        computes=cast(Computes, _AuditedPort(backend.computes, "computes", audit)),
        jobs=cast(Jobs, _AuditedPort(backend.jobs, "jobs", audit)),
        models=cast(Models, _AuditedPort(backend.models, "models", audit)),
    )


class _AuditedPort:
    def __init__(self, inner: Any, port: str, audit: AuditLog) -> None:
        self._inner = inner
        self._port = port
        self._audit = audit

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in MUTATIONS[self._port]:
            return attribute
        return self._wrap(name, attribute)

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            what = _describe(self._port, name, args, kwargs)
            actor = _actor.get() or NOBODY
            try:
                result = method(*args, **kwargs)
            except Exception as err:
                _record(self._audit, actor, what, "failed", str(err))
                raise
            if name.startswith("begin_"):
                _record(self._audit, actor, what, "started")
                return _AuditedOperation(result, self._audit, actor, what)
            _record(self._audit, actor, what, "ok")
            return result

        return call


class _AuditedOperation:
    """A long-running operation whose outcome is recorded once, when someone first waits for it."""

    def __init__(self, inner: Any, audit: AuditLog, actor: Actor, what: str) -> None:
        self._inner = inner
        self._audit = audit
        self._actor = actor
        self._what = what
        self._recorded = False
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def result(self, timeout: float | None = None) -> Any:
        try:
            value = self._inner.result(timeout)
        except TimeoutError:
            raise  # still running: its outcome is recorded by whoever waits next
        except Exception as err:
            self._once("failed", str(err))
            raise
        self._once("ok")
        return value

    def _once(self, outcome: str, error: str | None = None) -> None:
        with self._lock:
            if self._recorded:
                return
            self._recorded = True
        _record(self._audit, self._actor, self._what, outcome, error)


def _describe(port: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """`computes.begin_stop cpu1 (scope=…)`: the method and its plain arguments, nothing bulky."""
    shown = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items() if v is not None]
    return f"{port}.{method} " + " ".join(shown)


def _short(value: Any) -> str:
    name = getattr(value, "name", None)
    text = str(name if isinstance(name, str) else value)
    return text if len(text) <= 80 else text[:77] + "…"


def _record(audit: AuditLog, actor: Actor, what: str, outcome: str, error: str | None = None) -> None:
    try:
        audit.record(AZURE_MUTATION, actor.user, actor.channel, what, outcome, {"error": error} if error else None)
    except Exception:  # the trail must not turn a done change into a reported failure
        log.warning("could not write the audit row of %s", what, exc_info=True)
