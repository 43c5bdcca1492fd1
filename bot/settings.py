"""Settings from AMLBOT_* environment variables: read once at start-up, frozen, all problems reported together."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.reminder_schedule import DEFAULT_CRON, DEFAULT_TIMEZONE, QuietHours, ReminderSchedule, parse_days

PREFIX = "AMLBOT_"
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9_]{2,}")


class SettingsError(Exception):
    """The environment does not describe a bot that can start; the message names every problem."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore", env_file=None)

    slack_bot_token: SecretStr = Field(description="Bot token (xoxb-…) of the Slack app.")
    slack_signing_secret: SecretStr = Field(description="Signing secret of the Slack app.")
    slack_app_token: SecretStr | None = Field(default=None, description="App-level token (xapp-…), Socket Mode only.")
    slack_api_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL.")
    slash_command: str = Field(default="/aml", description="The slash command the app registers.")

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(default=3000, ge=1, le=65535, description="Port the HTTP server listens on.")
    http_workers: int = Field(default=2, ge=1, le=32, description="Processes of the HTTP server.")
    http_threads: int = Field(default=8, ge=1, le=256, description="Request threads of the HTTP server.")
    work_threads: int = Field(default=32, ge=1, le=1024, description="Threads running slow work after the ack.")
    work_queue_limit: int = Field(default=2000, ge=1, description="Slow work waiting beyond this is refused.")
    runner_processes: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Processes `serve` runs beside the HTTP workers for accepted commands and the sweeps; 0: in them.",
    )

    backend: Literal["auto", "local", "azure"] = Field(default="auto", description="Cloud backend.")
    data_dir: Path = Field(default=Path(".data"), description="Where the local backend and SQLite keep state.")
    job_catalog_dir: Path = Field(default=Path("jobs"), description="Folder of Azure ML job YAML templates.")
    azure_subscription_id: str | None = Field(default=None, description="Azure subscription id.")
    azure_resource_group: str | None = Field(default=None, description="Default resource group.")
    azure_workspace: str | None = Field(default=None, description="Default Azure ML workspace.")
    azure_location: str = Field(default="eastus", description="Default Azure region for new resources.")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store (default: SQLite in the data dir)."
    )
    eventgrid_secret: SecretStr | None = Field(
        default=None, description="Shared secret (?code=…) of the Event Grid endpoint; unset disables it."
    )

    permissions: str | None = Field(
        default=None,
        description="Roles as JSON, or the path of a JSON/YAML file (README: Permissions); unset: everyone operator.",
    )
    approval_ttl_hours: float = Field(default=24.0, gt=0, le=720, description="Hours an approval request stays open.")

    reminder_channels: str = Field(
        default="", description="Channel ids to remind about running compute, comma-separated; empty: configured ones."
    )
    reminder_cron: str = Field(
        default="; ".join(DEFAULT_CRON),
        description="When reminders are checked: cron lines (minute hour day month weekday) joined by ';'.",
    )
    reminder_timezone: str = Field(default=DEFAULT_TIMEZONE, description="IANA time zone of the reminder schedule.")
    reminder_quiet_hours: str = Field(default="", description="Daily quiet time, e.g. 20:00-08:00; empty: none.")
    reminder_quiet_days: str = Field(default="", description="Days without scheduled reminders, e.g. sat,sun.")
    reminder_dm_creators: bool = Field(
        default=False, description="Also send each compute's creator their own running compute in a DM."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="Log level.")

    @field_validator("slack_api_url")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("slash_command")
    @classmethod
    def _starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/") or " " in value:
            raise ValueError("must look like /aml")
        return value

    @field_validator("reminder_channels")
    @classmethod
    def _channel_ids(cls, value: str) -> str:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        wrong = [part for part in ids if not _CHANNEL_ID.fullmatch(part)]
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)}: use channel ids separated by commas, e.g. C0123ABCD,C0456EFGH "
                "(a channel's id is at the bottom of its details; names like #ml-team do not work)"
            )
        return ",".join(ids)

    @field_validator("reminder_cron")
    @classmethod
    def _cron_lines(cls, value: str) -> str:
        if not value.strip():
            return "; ".join(DEFAULT_CRON)
        ReminderSchedule.from_settings(value)  # raises ValueError naming the bad line
        return value.strip()

    @field_validator("reminder_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        if not value.strip():
            return DEFAULT_TIMEZONE
        ReminderSchedule(timezone=value.strip())  # raises ValueError with an example
        return value.strip()

    @field_validator("reminder_quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        if value.strip():
            QuietHours.parse(value)
        return value.strip()

    @field_validator("reminder_quiet_days")
    @classmethod
    def _quiet_days(cls, value: str) -> str:
        parse_days(value)
        return value.strip()

    @property
    def reminder_channel_ids(self) -> tuple[str, ...]:
        return tuple(part for part in self.reminder_channels.split(",") if part)

    @property
    def uses_azure(self) -> bool:
        return self.backend == "azure" or (self.backend == "auto" and bool(self.azure_subscription_id))


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings once; raise SettingsError listing every missing or invalid variable."""
    try:
        if env is None:
            return Settings()  # type: ignore[call-arg]  # values come from the environment
        values = {k.removeprefix(PREFIX).lower(): v for k, v in env.items() if k.startswith(PREFIX)}
        return Settings.model_validate(values)
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None


def _describe(err: ValidationError) -> str:
    problems = []
    for issue in err.errors():
        name = PREFIX + "_".join(str(part) for part in issue["loc"]).upper()
        if issue["type"] == "missing":
            problems.append(f"  {name}: missing — {_field_help(issue['loc'])}")
        else:
            problems.append(f"  {name}: {issue['msg']}")
    count = len(problems)
    head = f"aml-bot cannot start: {count} setting{'s' if count != 1 else ''} missing or invalid"
    return head + " (see .env.example):\n" + "\n".join(problems)


def _field_help(loc: tuple[int | str, ...]) -> str:
    field = Settings.model_fields.get(str(loc[0]))
    return field.description or "" if field else ""
