"""The composition root: settings → services → app. The only place that chooses implementations."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk import WebClient

from bot.app import AmlBot, Role, create_app
from bot.blocks import BlockKitRenderer
from bot.notifier import SlackChat
from bot.permissions import load_permissions
from bot.reminder_scheduler import reminder_schedule
from bot.runner_wake import RunnerWake
from bot.settings import Settings, SettingsError
from bot.usergroups import SlackUserGroups
from services.approvals import ApprovalService
from services.audit import AuditLog
from services.audited import audited_backend
from services.catalog import JobCatalog
from services.channel_config import ChannelConfig
from services.chart_delivery import chart_renderers
from services.command_queue import CommandQueue
from services.container import Services
from services.deliveries import DeliveryLedger
from services.leader import LeaderElection
from services.operations import OperationStory
from services.outbox import Outbox, OutboxDelivery
from services.ports import CloudBackend
from services.pricing import PriceBook
from services.rbac import Authorizer, CachingUserGroupResolver
from services.reminder_users import SlackUserDirectory
from services.reminders import ReminderService
from services.store import make_engine
from services.store.schema import prepare_at_start
from services.teardown import TeardownExecutor
from services.tracking import JobTracking, RunEventHandler
from services.watch import PUSHED_POLICY, IntervalPolicy, JobWatcher

# Local status reads are file reads: poll often so short jobs show every step of their story.
LOCAL_POLICY = IntervalPolicy(
    min_interval=1.0,
    waiting=((0.0, 1.0), (60.0, 5.0)),
    running=((0.0, 1.0), (60.0, 5.0), (600.0, 30.0)),
    ending=((0.0, 1.0),),
)
# A crashed process's claim on a channel's messages lapses after this long; its successor then delivers.
OUTBOX_LEASE_SECONDS = 30.0
# A crashed process's running command is reported interrupted this long after its last heartbeat.
COMMAND_LEASE_SECONDS = 60.0
# The ack path's INSERT gives up after this and the command runs in this process instead (Slack waits 3 s).
ENQUEUE_WAIT_MS = 250
# Below half the lease, so a slow Slack call never outlives the claim it runs under.
SLACK_TIMEOUT_SECONDS = 10


def build_backend(settings: Settings, catalog: JobCatalog) -> CloudBackend:
    """Azure when a subscription is configured (or AMLBOT_BACKEND=azure), else the local backend."""
    if settings.uses_azure:
        if not settings.azure_subscription_id or not settings.azure_resource_group:
            raise SettingsError(
                "The Azure backend needs AMLBOT_AZURE_SUBSCRIPTION_ID and AMLBOT_AZURE_RESOURCE_GROUP "
                "(and usually AMLBOT_AZURE_WORKSPACE). Set them, or AMLBOT_BACKEND=local to run locally."
            )
        from services.cloud.azure import build_azure_backend, tame_sdk_loggers

        tame_sdk_loggers()
        return build_azure_backend(
            subscription_id=settings.azure_subscription_id,
            resource_group=settings.azure_resource_group,
            workspace=settings.azure_workspace,
            location=settings.azure_location,
            catalog=catalog,
        )
    from services.cloud.local import build_local_backend

    return build_local_backend(settings.data_dir / "local", catalog)


def prepare(settings: Settings) -> None:
    """Create the store's tables and the local backend's defaults once, before worker processes start."""
    engine = make_engine(settings.database_url, data_dir=settings.data_dir)
    try:
        prepare_at_start(engine)
    finally:
        engine.dispose()
    build_backend(settings, JobCatalog(settings.job_catalog_dir))


def build_services(settings: Settings) -> Services:
    permissions = load_permissions(settings)  # first: a bad configuration stops the start before any I/O
    catalog = JobCatalog(settings.job_catalog_dir)
    backend = build_backend(settings, catalog)
    engine = make_engine(settings.database_url, data_dir=settings.data_dir)
    prepare_at_start(engine)
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_SECONDS,
    )
    outbox = Outbox()
    delivery = OutboxDelivery(
        engine,
        SlackChat(client),
        BlockKitRenderer(),
        lease_seconds=OUTBOX_LEASE_SECONDS,
        files=chart_renderers(backend.jobs),
    )
    watcher = JobWatcher(engine, backend.jobs, outbox, policy=_policy(settings, backend))
    audit = AuditLog(engine)
    # What commands change goes in the audit trail; approved deletions are recorded by the approval service.
    commanded = audited_backend(backend, audit)
    tracking = JobTracking(engine, commanded.jobs, catalog, watcher, outbox, on_enqueued=delivery.wake)
    authorizer = Authorizer(permissions, CachingUserGroupResolver(SlackUserGroups(client)))
    approvals = ApprovalService(
        engine,
        outbox,
        authorizer,
        executor=TeardownExecutor(backend),
        default_ttl=timedelta(hours=settings.approval_ttl_hours),
        audit=audit,
        on_enqueued=delivery.wake,
    )
    reminders = ReminderService(
        engine,
        backend,  # not `commanded`: a reminder's Stop writes its own audit rows
        outbox,
        reminder_schedule(settings),
        prices=PriceBook.in_data_dir(settings.data_dir),
        channels=settings.reminder_channel_ids,
        users=SlackUserDirectory(client),
        authorizer=authorizer,
        audit=audit,
        dm_creators=settings.reminder_dm_creators,
    )
    return Services(
        backend=commanded,
        catalog=catalog,
        tracking=tracking,
        operations=OperationStory(engine, outbox, on_enqueued=delivery.wake),
        channels=ChannelConfig(engine),
        watcher=watcher,
        delivery=delivery,
        run_events=RunEventHandler(engine, backend.jobs, watcher),
        deliveries=DeliveryLedger(engine),
        authorizer=authorizer,
        approvals=approvals,
        audit=audit,
        command_queue=CommandQueue(
            engine,
            lease_seconds=COMMAND_LEASE_SECONDS,
            enqueue_engine=make_engine(
                settings.database_url,
                data_dir=settings.data_dir,
                wait_budget_ms=ENQUEUE_WAIT_MS,
                pool_size=settings.http_threads,
                max_overflow=0,
            ),
            enqueue_budget=ENQUEUE_WAIT_MS / 1000,
        ),
        leader=LeaderElection(engine),
        reminders=reminders,
    )


def _policy(settings: Settings, backend: CloudBackend) -> IntervalPolicy | None:
    if backend.kind == "local":
        return LOCAL_POLICY
    return PUSHED_POLICY if settings.eventgrid_secret is not None else None


def build_bot(settings: Settings, *, role: Role = "all", wake: RunnerWake | None = None) -> AmlBot:
    return create_app(settings, build_services(settings), role=role, wake=wake)
