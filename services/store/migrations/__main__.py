"""`python -m services.store.migrations new "add reminders tables"`: draft the next revision (developers only).

It migrates a scratch SQLite database to the newest revision, compares it with the MetaData of every table
module, and writes what differs as `versions/<next number>_<slug>.py` for you to read and finish.
`--module reminders_tables` limits the draft to that module's tables (when others are changing theirs too).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import Table

from services.store.engine import make_engine
from services.store.schema import alembic_config, revision_history, upgrade


def next_revision_id() -> str:
    """The number after the newest revision's, four digits ("0003")."""
    numbers = [int(revision) for revision in revision_history() if revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def draft_revision(message: str, *, module: str | None = None) -> Path:
    """Write the draft of the next revision (of one table module's tables, if given) and return its path."""
    with tempfile.TemporaryDirectory(prefix="amlbot-revision-") as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            upgrade(engine)
            with engine.begin() as conn:
                config = alembic_config(conn)
                if module is not None:
                    config.attributes["only_tables"] = tables_of(module)
                script = command.revision(config, message, autogenerate=True, rev_id=next_revision_id())
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    path = Path(script.path)
    _tidy(path)
    return path


def tables_of(module: str) -> set[str]:
    """The names of the tables a module of services/store defines."""
    found = vars(importlib.import_module(f"services.store.{module}")).values()
    names = {value.name for value in found if isinstance(value, Table)}
    if not names:
        raise SystemExit(f"services/store/{module}.py defines no tables")
    return names


def _tidy(path: Path) -> None:
    """Format the draft as the project's code is (ruff, when installed: a development dependency)."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        print("ruff not found: format the draft yourself (`ruff format` and `ruff check --fix`).")
        return
    subprocess.run([ruff, "format", "--quiet", str(path)], check=False)
    subprocess.run([ruff, "check", "--fix", "--quiet", str(path)], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.store.migrations", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    new = sub.add_parser("new", help="draft the next revision from what the table modules changed")
    new.add_argument("message", help='what the revision does, e.g. "add reminders tables"')
    new.add_argument("--module", help="only the tables of this services/store module, e.g. reminders_tables")
    args = parser.parse_args(argv)
    path = draft_revision(args.message, module=args.module)
    print(
        f"Wrote {path}.\nRead it before committing: autogenerate sees added and dropped tables, columns and "
        "indexes, not renames or data changes, and downgrade() must undo upgrade(). Then run "
        "`pytest tests/services/store/test_migrations.py`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
