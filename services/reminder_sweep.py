"""Finding compute that costs money, and the reminder message's snapshot of it (Slack-free).

What costs money (`find_costly`):
- an instance in a state where its VM is allocated: Running, JobRunning, Starting, Restarting, SettingUp,
  UserSettingUp, and the failed-but-allocated SetupFailed, UserSetupFailed, Unusable (a Stop helps there too).
  Creating, Stopping, Stopped, Deleting are left out: they are on their way (or already) not to cost anything;
- a cluster with nodes allocated (`current_nodes > 0`) or a minimum above zero (`min_nodes > 0`: those nodes
  never go away by themselves).
A compute whose hourly rate is known to be zero (a local slot configured at 0) costs nothing and is left out.

Figures, per compute: nodes (1 for an instance; for a cluster the larger of current and minimum nodes);
price per node from `ComputeInfo.hourly_rate` when the backend has one (the local backend's configured rate),
else from the PriceBook by size, region and tier (low-priority clusters use the low-priority meter); per hour =
price × nodes; running for = now − `running_since` (unknown when the backend cannot tell, e.g. Azure clusters);
cost so far = per hour × hours running (an estimate: a cluster's node count changes over time). Jobs running on
it are counted from one `jobs.list(scope=…, limit=…)` per workspace; if that fails the count is unknown (None)
and the compute is still listed.

Each compute becomes a JSON item (`CostlyCompute.to_item`), the snapshot stored with the reminder and sent in
the outbox payload (see `reminder_payload` for the message's shape).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.durations import format_duration
from services.models import ComputeInfo, ComputeKind, JobStatus, WorkspaceScope
from services.ports import CloudBackend
from services.pricing import Price, PriceBook
from services.reminder_users import UserDirectory, slack_user_for
from services.store.watching import workspace_key

log = logging.getLogger(__name__)

COSTLY_INSTANCE_STATES = frozenset(
    {
        "running",
        "jobrunning",
        "starting",
        "restarting",
        "settingup",
        "usersettingup",
        "setupfailed",
        "usersetupfailed",
        "unusable",
    }
)
_RUNNING_JOB = frozenset(
    {JobStatus.RUNNING, JobStatus.FINALIZING, JobStatus.PREPARING, JobStatus.PROVISIONING, JobStatus.STARTING}
)
_QUEUED_JOB = frozenset({JobStatus.QUEUED, JobStatus.NOT_STARTED})
ACTION_STOP = "stop"
ACTION_SCALE_TO_ZERO = "scale_to_zero"
JOB_SCAN_LIMIT = 200  # newest jobs looked at per workspace: older ones are long finished


@dataclass(frozen=True)
class CostlyCompute:
    """One compute that costs money right now, with what it costs."""

    info: ComputeInfo
    workspace_key: str
    scope: WorkspaceScope | None
    nodes: int
    price: Price | None  # per node and hour; None when no source knows it
    running_seconds: float | None
    jobs_running: int | None
    jobs_queued: int | None
    job_names: tuple[str, ...]
    creator_slack_id: str | None

    @property
    def per_hour(self) -> float | None:
        return None if self.price is None else self.price.per_hour * self.nodes

    @property
    def cost_so_far(self) -> float | None:
        if self.per_hour is None or self.running_seconds is None:
            return None
        return self.per_hour * self.running_seconds / 3600

    @property
    def action(self) -> str:
        return ACTION_STOP if self.info.kind is ComputeKind.INSTANCE else ACTION_SCALE_TO_ZERO

    def to_item(self) -> dict[str, Any]:
        """The JSON snapshot of this compute (stored with the reminder, sent in its payload)."""
        info = self.info
        return {
            "name": info.name,
            "key": info.name.lower(),
            "kind": info.kind.value,
            "size": info.size,
            "state": info.state,
            "nodes": self.nodes,
            "min_nodes": info.min_nodes,
            "tier": info.tier,
            "location": info.location,
            "workspace_key": self.workspace_key,
            "scope": None
            if self.scope is None
            else {
                "subscription_id": self.scope.subscription_id,
                "resource_group": self.scope.resource_group,
                "workspace": self.scope.workspace,
            },
            "running_since": info.running_since.isoformat() if info.running_since else None,
            "running_for_seconds": None if self.running_seconds is None else round(self.running_seconds),
            "running_for": None if self.running_seconds is None else format_duration(self.running_seconds),
            "per_node_hour": None if self.price is None else self.price.per_hour,
            "per_hour": _round(self.per_hour),
            "cost_so_far": _round(self.cost_so_far),
            "currency": self.price.currency if self.price else None,
            "price_source": self.price.source.value if self.price else None,
            "price_label": self.price.label if self.price else "price unknown",
            "jobs_running": self.jobs_running,
            "jobs_queued": self.jobs_queued,
            "job_names": list(self.job_names),
            "creator_slack_id": self.creator_slack_id,
            "action": self.action,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def scope_of(item: Mapping[str, Any]) -> WorkspaceScope | None:
    """The workspace an item's compute lives in (None: the backend's default one)."""
    scope = item.get("scope")
    if not isinstance(scope, Mapping):
        return None
    return WorkspaceScope(scope.get("subscription_id"), scope.get("resource_group"), scope.get("workspace"))


def is_costly(info: ComputeInfo) -> bool:
    """Whether the compute's VMs are allocated (the state test only; a zero rate is checked with the price)."""
    if info.kind is ComputeKind.INSTANCE:
        return info.state.replace(" ", "").lower() in COSTLY_INSTANCE_STATES
    return (info.current_nodes or 0) > 0 or (info.min_nodes or 0) > 0


def price_of(info: ComputeInfo, prices: PriceBook | None) -> Price | None:
    """Per node and hour: the backend's configured rate, else the PriceBook's price for size, region, tier."""
    if info.hourly_rate is not None:
        return Price.configured(info.hourly_rate)
    if prices is None or not info.size or not info.location:
        return None
    return prices.lookup(info.size, info.location, low_priority=(info.tier or "").lower() == "low_priority")


def _job_counts(
    backend: CloudBackend, scope: WorkspaceScope | None
) -> tuple[Counter[str], Counter[str], dict[str, list[str]]] | None:
    """Running and queued jobs per compute (lower-case name), with the running jobs' names; None on failure."""
    try:
        jobs = backend.jobs.list(scope=scope, limit=JOB_SCAN_LIMIT)
    except Exception as err:  # the reminder is still worth sending without job counts
        log.warning("reminders: cannot list jobs of %s: %s", workspace_key(scope) or "the default workspace", err)
        return None
    running: Counter[str] = Counter()
    queued: Counter[str] = Counter()
    names: dict[str, list[str]] = {}
    for job in jobs:
        if not job.compute:
            continue
        key = job.compute.lower()
        if job.status in _RUNNING_JOB:
            running[key] += 1
            names.setdefault(key, []).append(job.name)
        elif job.status in _QUEUED_JOB:
            queued[key] += 1
    return running, queued, names


def find_costly(
    backend: CloudBackend,
    scope: WorkspaceScope | None,
    now: datetime,
    *,
    prices: PriceBook | None,
    users: UserDirectory | None = None,
) -> list[CostlyCompute]:
    """The computes of one workspace that cost money now, dearest first. Raises what `computes.list` raises."""
    candidates = [info for info in backend.computes.list(scope=scope) if is_costly(info)]
    found: list[CostlyCompute] = []
    counts = _job_counts(backend, scope) if candidates else None
    key = workspace_key(scope)
    for info in candidates:
        price = price_of(info, prices)
        if price is not None and price.per_hour <= 0:
            continue  # a free slot: nothing to remind anyone about
        nodes = 1 if info.kind is ComputeKind.INSTANCE else max(info.current_nodes or 0, info.min_nodes or 0)
        since = info.running_since
        running = max(0.0, (now - since).total_seconds()) if since is not None else None
        name = info.name.lower()
        found.append(
            CostlyCompute(
                info=info,
                workspace_key=key,
                scope=scope,
                nodes=nodes,
                price=price,
                running_seconds=running,
                jobs_running=None if counts is None else counts[0][name],
                jobs_queued=None if counts is None else counts[1][name],
                job_names=tuple((counts[2].get(name) or [])[:3]) if counts is not None else (),
                creator_slack_id=slack_user_for(info.created_by, users),
            )
        )
    found.sort(key=lambda c: (-(c.per_hour or 0.0), c.info.name.lower()))
    return found


# ------------------------------------------------------------------------------------------------ words


def money(amount: float | None, currency: str | None = "USD") -> str:
    if amount is None:
        return "?"
    if currency in (None, "USD"):
        return "<$0.01" if 0 < amount < 0.005 else f"${amount:,.2f}"
    return f"{amount:,.2f} {currency}"


def _jobs_words(item: Mapping[str, Any]) -> str:
    running, queued = item.get("jobs_running"), item.get("jobs_queued")
    if running is None:
        return "jobs unknown"
    parts = []
    if running:
        parts.append(f"{running} job{'s' if running != 1 else ''} running")
    if queued:
        parts.append(f"{queued} queued")
    return ", ".join(parts) if parts else "no jobs running"


def item_line(item: Mapping[str, Any]) -> str:
    """One compute in words: "`dev-instance` (instance, Standard_DS11_v2): running 2 h 30 min, $0.30/h, about
    $0.75 so far, no jobs running, <@U1> [configured rate]"."""
    kind = item.get("kind")
    what = [kind or "compute"]
    if item.get("size"):
        what.append(str(item["size"]))
    if kind == ComputeKind.CLUSTER.value:
        what.append(f"{item.get('nodes')} node{'s' if item.get('nodes') != 1 else ''}")
        if item.get("tier") == "low_priority":
            what.append("low priority")
    parts = [f"`{item.get('name')}` ({', '.join(what)})"]
    details = [f"running {item['running_for']}" if item.get("running_for") else "running time unknown"]
    currency = item.get("currency")
    if item.get("per_hour") is not None:
        details.append(f"{money(item['per_hour'], currency)}/h")
        if item.get("cost_so_far") is not None:
            details.append(f"about {money(item['cost_so_far'], currency)} so far")
    else:
        details.append("price unknown")
    details.append(_jobs_words(item))
    if item.get("creator_slack_id"):
        details.append(f"<@{item['creator_slack_id']}>")
    line = f"{parts[0]}: {', '.join(details)}"
    return line + f" [{item.get('price_label')}]" if item.get("per_hour") is not None else line


def reminder_payload(
    reminder_id: int,
    channel: str,
    slot: str,
    items: Sequence[Mapping[str, Any]],
    *,
    swept_at: datetime,
    snoozed: int = 0,
    max_items: int = 15,
    snooze_hours: float = 2,
) -> dict[str, Any]:
    """The outbox payload of a reminder (kind "reminder").

    `items`: the first `max_items` computes (dearest first), each as `CostlyCompute.to_item`; `more`: how many
    were left out (the renderer says "…and N more"; they stay stoppable with /aml compute stop). Buttons per
    item: Stop (`action` "stop") or Scale to zero ("scale_to_zero"), Snooze `snooze_hours` h, Keep until
    tomorrow; each button's value needs only `reminder_id` and the item's `name`. `mentions`: the creators'
    Slack ids. `text`: the whole message in plain words (the fallback, and what the TextRenderer shows).
    """
    shown = [dict(item) for item in items[: max(1, max_items)]]
    more = max(0, len(items) - len(shown))
    per_hour = [i["per_hour"] for i in items if i.get("per_hour") is not None]
    so_far = [i["cost_so_far"] for i in items if i.get("cost_so_far") is not None]
    count = len(items)
    head = f"{count} compute{'s are' if count != 1 else ' is'} running and costing money"
    if per_hour:
        head += f" (about {money(sum(per_hour))}/h in all)"
    lines = [head + ":"] + [f"• {item_line(item)}" for item in shown]
    if more:
        lines.append(f"…and {more} more (see `/aml compute list`).")
    if snoozed:
        lines.append(f"{snoozed} snoozed compute{'s are' if snoozed != 1 else ' is'} not listed.")
    lines.append(
        "Stop what nobody needs, or snooze it: `/aml remind snooze <compute> 2h` (`/aml remind status` lists snoozes)."
    )
    return {
        "reminder_id": reminder_id,
        "channel": channel,
        "slot": slot,
        "swept_at": swept_at,
        "items": shown,
        "count": count,
        "more": more,
        "snoozed": snoozed,
        "total_per_hour": round(sum(per_hour), 4) if per_hour else None,
        "total_so_far": round(sum(so_far), 4) if so_far else None,
        "mentions": sorted({str(i["creator_slack_id"]) for i in items if i.get("creator_slack_id")}),
        "snooze_hours": snooze_hours,
        "text": "\n".join(lines),
    }
