"""`python -m bot serve | socket | shell | migrate`."""

from __future__ import annotations

import argparse
import sys

from bot.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="aml-bot: Azure ML from Slack.")
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve", help="serve Slack's HTTP requests (production)")
    serve.add_argument("--host", help="bind address (default AMLBOT_HOST)")
    serve.add_argument("--port", type=int, help="port (default AMLBOT_PORT, e.g. $PORT)")
    sub.add_parser("socket", help="connect over Socket Mode instead of HTTP")
    shell = sub.add_parser("shell", help="try the bot in a local Slack workspace from this terminal")
    shell.add_argument("--wait", type=float, default=30.0, help="seconds to wait for work to settle (piped input)")
    shell.add_argument("--seed", help="seed file of users and channels (default: the shipped one)")
    migrate = sub.add_parser("migrate", help="bring the database to this version's schema (the release step)")
    migrate.add_argument("--to", default="head", help="revision to migrate to, up or down (default: the newest)")
    args = parser.parse_args(argv)

    try:
        if args.mode == "shell":
            from bot.shell import run_shell

            return run_shell(wait=args.wait, seed=args.seed)
        if args.mode == "migrate":
            return _migrate(args.to)
        return _serve(args)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from bot.bootstrap import build_bot, prepare
    from bot.logs import configure_logging
    from bot.settings import load_settings
    from services.store.schema import SchemaOutOfDate

    settings = load_settings()
    overrides = {k: v for k, v in {"host": args.host, "port": getattr(args, "port", None)}.items() if v}
    if overrides:
        settings = settings.model_copy(update=overrides)
    configure_logging(settings.log_level)
    try:
        if args.mode == "socket":
            from bot.socket_mode import serve_socket_mode

            serve_socket_mode(build_bot(settings))
            return 0
        from bot.serve import serve_http, web_role

        prepare(settings)  # in the master, so worker processes never race to create tables or folders
    except SchemaOutOfDate as err:
        print(f"aml-bot cannot start: {err}", file=sys.stderr)
        return 2
    role, wake = web_role(settings)
    serve_http(settings, lambda: build_bot(settings, role=role, wake=wake))
    return 0


def _migrate(target: str) -> int:
    """Migrate the configured database to `target`, printing the revision before and after."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from bot.logs import configure_logging
    from bot.settings import load_settings
    from services.redaction import redact
    from services.store import make_engine
    from services.store.schema import SchemaOutOfDate, describe, migrate

    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        engine = make_engine(settings.database_url, data_dir=settings.data_dir)
    except ValueError as err:  # a database the store does not support, or a bad port
        print(f"AMLBOT_DATABASE_URL is not usable ({err}); nothing was changed.", file=sys.stderr)
        return 2
    except ArgumentError:  # its message would repeat the URL, password included
        example = "postgresql+psycopg://user:password@host:5432/amlbot"
        print(f"AMLBOT_DATABASE_URL is not a database URL (e.g. {example}); nothing was changed.", file=sys.stderr)
        return 2
    where = redact(engine.url.render_as_string(hide_password=True))
    print(f"Database: {where}")
    try:
        result = migrate(engine, target)
    except SchemaOutOfDate as err:
        print(err, file=sys.stderr)
        return 1
    except ValueError as err:  # an unknown --to revision
        print(f"Nothing was changed: {err}.", file=sys.stderr)
        return 2
    except (SQLAlchemyError, RuntimeError, OSError) as err:
        print(
            f"The migration failed and nothing was changed (it runs in one transaction): {_reason(err)}\n"
            "Fix that and run `python -m bot migrate` again.",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    if not result.changed:
        print(f"Already at revision {describe(result.after)}: nothing to do.")
    else:
        print(f"Revision before: {describe(result.before)}")
        print(f"Revision after:  {describe(result.after)}")
    return 0


def _reason(err: BaseException) -> str:
    """The first line of what went wrong, without the driver's stack of context or any secret in it."""
    from services.redaction import redact

    original = getattr(err, "orig", None) or err
    lines = str(original).strip().splitlines() or [type(original).__name__]
    return redact(lines[0])


if __name__ == "__main__":
    sys.exit(main())
