"""The services a command may use, built once at start-up and injected into the app."""

from __future__ import annotations

from dataclasses import dataclass

from services.approvals import ApprovalService
from services.audit import AuditLog
from services.catalog import JobCatalog
from services.channel_config import ChannelConfig
from services.deliveries import DeliveryLedger
from services.operations import OperationStory
from services.outbox import OutboxDelivery
from services.ports import CloudBackend
from services.rbac import Authorizer
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
