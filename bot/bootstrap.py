"""The composition root: settings → services → app. The only place that chooses implementations."""

from __future__ import annotations

from bot.app import AmlBot, create_app
from bot.settings import Settings, SettingsError
from services.catalog import JobCatalog
from services.container import Services
from services.ports import CloudBackend


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


def build_services(settings: Settings) -> Services:
    catalog = JobCatalog(settings.job_catalog_dir)
    return Services(backend=build_backend(settings, catalog), catalog=catalog)


def build_bot(settings: Settings) -> AmlBot:
    return create_app(settings, build_services(settings))
