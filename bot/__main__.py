"""`python -m bot serve | socket | shell`."""

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
    args = parser.parse_args(argv)

    try:
        if args.mode == "shell":
            from bot.shell import run_shell

            return run_shell(wait=args.wait, seed=args.seed)
        return _serve(args)
    except SettingsError as err:
        print(err, file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    from bot.bootstrap import build_bot, prepare
    from bot.logs import configure_logging
    from bot.settings import load_settings

    settings = load_settings()
    overrides = {k: v for k, v in {"host": args.host, "port": getattr(args, "port", None)}.items() if v}
    if overrides:
        settings = settings.model_copy(update=overrides)
    configure_logging(settings.log_level)
    if args.mode == "socket":
        from bot.socket_mode import serve_socket_mode

        serve_socket_mode(build_bot(settings))
        return 0
    from bot.serve import serve_http

    prepare(settings)  # in the master, so worker processes never race to create tables or folders
    serve_http(settings, lambda: build_bot(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
