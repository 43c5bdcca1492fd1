"""The services a command may use, built once at start-up and injected into the app."""

from __future__ import annotations

from dataclasses import dataclass

from services.approvals import ApprovalService
from services.audit import AuditLog
from services.catalog import JobCatalog
from services.channel_config import ChannelConfig
from services.command_queue import CommandQueue
from services.deliveries import DeliveryLedger
from services.leader import LeaderElection
from services.operations import OperationStory
from services.outbox import OutboxDelivery
from services.ports import CloudBackend
from services.rbac import Authorizer
from services.reminders import ReminderService
from services.tracking import JobTracking, RunEventHandler
from services.watch import JobWatcher


@dataclass(frozen=True)
class Services:
    """Everything the use cases need; None where a feature is not wired (tests inject only what they use)."""

    backend: CloudBackend | None = None
    catalog: JobCatalog | None = None
    tracking: JobTracking | None = None
    operations: OperationStory | None = None
    channels: ChannelConfig | None = None
    # Background work: the watcher's sweeps and the outbox's deliveries (leader-only once there are replicas).
    watcher: JobWatcher | None = None
    delivery: OutboxDelivery | None = None
    run_events: RunEventHandler | None = None
    # Retried Slack deliveries seen by any process (the in-process memory covers only its own).
    deliveries: DeliveryLedger | None = None
    # Who may do what (None: everyone may do everything, as in tests that do not exercise permissions).
    authorizer: Authorizer | None = None
    # Destructive actions wait here for someone else's approval.
    approvals: ApprovalService | None = None
    audit: AuditLog | None = None
    # Accepted slow commands, run by any replica's workers (None: they run in this process's pool only).
    command_queue: CommandQueue | None = None
    # Background loops run only in the process that holds this (None: in every process, as in tests).
    leader: LeaderElection | None = None
    # Reminders about compute that is running and costing money.
    reminders: ReminderService | None = None
