"""Importing the Azure backend (and the bot) stays free of azure.ai.ml; its loggers can be tamed."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _run(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_importing_the_azure_backend_imports_no_azure_sdk() -> None:
    found = _run("""
        import json, sys
        import services.cloud.azure
        from services.cloud.azure import build_azure_backend, tame_sdk_loggers
        print(json.dumps({"loaded": sorted(m for m in sys.modules if m == "azure" or m.startswith("azure."))}))
    """)
    assert found["loaded"] == []


def test_importing_the_bot_does_not_import_azure_ai_ml() -> None:
    if not (REPO / "bot" / "__init__.py").exists():
        return
    found = _run("""
        import json, sys
        import bot
        print(json.dumps({"ml": sorted(m for m in sys.modules if m.startswith("azure.ai.ml"))}))
    """)
    assert found["ml"] == []


def test_building_the_backend_makes_no_client_and_imports_no_sdk() -> None:
    found = _run("""
        import json, sys
        from pathlib import Path
        from services.catalog import JobCatalog
        from services.cloud.azure import build_azure_backend
        backend = build_azure_backend(subscription_id="00000000-0000-0000-0000-000000000000",
                                      resource_group="rg-bot", workspace="ws-bot", location="eastus",
                                      catalog=JobCatalog(Path("tests/fixtures/azure/jobs")))
        print(json.dumps({"kind": backend.kind,
                          "loaded": sorted(m for m in sys.modules if m.startswith(("azure.ai", "azure.identity",
                                                                                     "azure.mgmt")))}))
    """)
    assert found == {"kind": "azure", "loaded": []}


def test_tame_sdk_loggers_undoes_what_azure_ai_ml_sets_up() -> None:
    found = _run("""
        import json, logging
        import azure.ai.ml  # installs an INFO stderr handler, propagate=False
        before = logging.getLogger("azure.ai.ml")
        was = [before.level, len(before.handlers), before.propagate]
        from services.cloud.azure import tame_sdk_loggers
        tame_sdk_loggers()
        aml = logging.getLogger("azure.ai.ml")
        children = [n for n, lg in logging.Logger.manager.loggerDict.items()
                    if n.startswith("azure.ai.ml.") and isinstance(lg, logging.Logger) and lg.handlers
                    and not n.startswith("azure.ai.ml._telemetry")]
        http = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
        print(json.dumps({"was": was, "now": [aml.level, len(aml.handlers), aml.propagate],
                          "children_with_handlers": children, "http": http.level}))
    """)
    assert found["was"] == [logging.INFO, 1, False]
    assert found["now"] == [logging.WARNING, 0, True]
    assert found["children_with_handlers"] == []
    assert found["http"] == logging.WARNING
