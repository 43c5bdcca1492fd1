"""The Home and job form builders stay within Block Kit's limits however much there is to show: at most 100
blocks per view, 3,000 characters per section, 100 options per select, and say how much was left out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.blocks.home import home_view
from bot.blocks.job_form import Choice, FormMetadata, JobForm, form_view
from services.approvals import ApprovalRequest, ApprovalState
from services.catalog import JobCatalog
from services.home import ComputeReport, HomeJob, HomeSnapshot, PersonalView, TeamCompute
from services.models import ComputeInfo, ComputeKind
from services.pricing import Price
from services.reminder_sweep import CostlyCompute
from services.store.watching import WatchRow

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def watch(n: int, *, active: bool) -> WatchRow:
    return WatchRow(
        id=n, workspace_key="//", job_name=f"train-tiny-{n:010d}" + "x" * 150, subscription_id=None,
        resource_group=None, workspace=None, channel="C_ML", requested_by="U_ALICE", template="train-tiny",
        root_ref=f"op:{n}", last_status="Running" if active else "Completed", version=1, status_since=NOW,
        status_observed_at=NOW, last_seen_at=NOW, next_check_at=NOW, check_failures=0, last_error=None,
        created_at=NOW, ended_at=None if active else NOW, active=active,
    )  # fmt: skip


def request(n: int) -> ApprovalRequest:
    resources = [{"type": "storage account", "name": f"st{i:04d}" + "y" * 150} for i in range(60)]
    return ApprovalRequest(
        id=n, action="teardown.rg", target=f"rg-{n}", details={"resources": resources}, requester="U_BOB",
        channel="C_ML", reason="r" * 2000, needed=2, state=ApprovalState.PENDING, version=0, created_at=NOW,
        expires_at=NOW + timedelta(hours=24), decided_at=None, decided_by=None, exec_token=None,
        exec_started_at=None, lease_until=None, finished_at=None, result=None, error=None,
    )  # fmt: skip


def compute(n: int) -> TeamCompute:
    info = ComputeInfo(
        name=f"gpu-{n:03d}" + "z" * 40, kind=ComputeKind.CLUSTER, size="Standard_NC6s_v3", state="Running",
        current_nodes=4, min_nodes=0, max_nodes=4, running_since=NOW - timedelta(hours=3), location="eastus",
    )  # fmt: skip
    costly = CostlyCompute(
        info, "//", None, 4, Price.configured(3.06), 3 * 3600.0, 1, 0, ("job",), creator_slack_id="U_CAROL"
    )
    return TeamCompute(costly, 36.72, 293.76)


def sections_and_counts(view: dict[str, Any]) -> tuple[list[str], int]:
    texts = [block["text"]["text"] for block in view["blocks"] if block["type"] == "section" and "text" in block]
    return texts, len(view["blocks"])


def test_a_home_with_too_much_to_show_stays_within_the_limits_and_says_what_was_left_out() -> None:
    personal = PersonalView(
        user="U_ALICE",
        running=tuple(HomeJob(watch(n, active=True), "https://ml.azure.com/runs/x") for n in range(200)),
        running_more=300,
        recent=tuple(HomeJob(watch(n, active=False)) for n in range(100)),
        approvals=tuple(request(n) for n in range(40)),
        approvals_more=5,
    )
    report = ComputeReport(tuple(compute(n) for n in range(150)), ("e" * 5000,) * 5, NOW, "Europe/Amsterdam")
    view = home_view(HomeSnapshot(personal, report, NOW, notice="n" * 5000))
    texts, count = sections_and_counts(view)
    assert count <= 100
    assert all(len(text) <= 3000 for text in texts)
    shown = json.dumps(view, ensure_ascii=False)
    assert "more: `/aml job list --mine --active`" in shown and "costing money now" in shown
    assert "…and" in shown and "more waiting: they are in their channels." in shown
    approve_buttons = shown.count('"action_id": "approval.approve"')
    assert 1 <= approve_buttons < 40, "whole requests only, as many as fit"


def test_the_job_form_stays_within_the_limits_with_a_huge_catalog(tmp_path: Path) -> None:
    one = "  in_{i}:\n    type: integer\n    default: {i}\n    description: " + "d" * 3000 + "\n"
    declared = "".join(one.format(i=i) for i in range(120))
    (tmp_path / "wide.yml").write_text(f"type: command\ncommand: echo\ndescription: {'w' * 5000}\ninputs:\n{declared}")
    catalog = JobCatalog(tmp_path)
    form = JobForm(
        metadata=FormMetadata("C_ML"),
        templates=[Choice(f"template-{n:03d}" + "t" * 200, "label " * 40, "description " * 20) for n in range(150)],
        template=catalog.get("wide"),
        computes=[Choice(f"compute-{n:03d}", f"compute-{n:03d} " + "c" * 100) for n in range(300)],
        problems=["p" * 1000] * 10,
    )
    view = form_view(form)
    texts, count = sections_and_counts(view)
    assert count <= 100
    assert all(len(text) <= 3000 for text in texts)
    selects = [b["element"] for b in view["blocks"] if b["type"] == "input" and "options" in b["element"]]
    assert selects and all(len(select["options"]) <= 100 for select in selects)
    assert all(len(option["text"]["text"]) <= 75 for select in selects for option in select["options"])
    assert "…and 50 more" in json.dumps(view, ensure_ascii=False), "the templates left out of the picker are counted"
    assert "more inputs keep their defaults" in json.dumps(view, ensure_ascii=False)
