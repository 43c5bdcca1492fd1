"""Which Azure compute costs money, through azure-ai-ml 1.35 with Microsoft's example payloads replayed offline:
running instances and clusters with nodes are found and priced from recorded Retail Prices pages; stopped
instances and idle zero-node clusters are not. A reminder's Stop then stops the instance through the adapter, and its
Scale to zero sets a warm cluster's minimum nodes to 0."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.models import ComputeKind
from services.outbox import Outbox
from services.pricing import PriceBook, PriceSource, query_url
from services.reminder_schedule import ReminderSchedule
from services.reminder_sweep import find_costly
from services.reminder_users import StaticUserDirectory
from services.reminders import ReminderService
from services.store import create_schema, make_engine
from tests.services.azure.azure_fakes import (
    ARM,
    ML_EXAMPLES,
    WS_PATH,
    Canned,
    FakeTransport,
    aml_compute_body,
    async_op,
    compute_instance_body,
    example_response,
    job_body,
    make_backend,
    ws_id,
)
from tests.services.store.store_fakes import FakeClock

COMPUTES = rf"^{ARM}{WS_PATH}/computes"
JOBS = rf"^{ARM}{WS_PATH}/jobs"
RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "retail_prices"
STARTED = {
    "operationName": "Start",
    "operationTime": "2026-03-02T08:15:00Z",
    "operationStatus": "Succeeded",
    "operationTrigger": "User",
}
NOW = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)


def instance(name: str, state: str, size: str = "STANDARD_DS3_V2") -> dict[str, Any]:
    body = compute_instance_body(name, state=state, last_operation=STARTED if state == "Running" else None)
    body["location"] = "eastus"
    body["properties"]["properties"]["vmSize"] = size
    return body


def cluster(name: str, *, current: int, min_nodes: int = 0, size: str = "STANDARD_NC6S_V3", low: bool = False) -> Any:
    body = aml_compute_body(name, current=current, target=max(current, min_nodes), allocation="Steady")
    body["location"] = "eastus"
    props = body["properties"]["properties"]
    props["vmSize"] = size
    props["vmPriority"] = "LowPriority" if low else "Dedicated"
    props["scaleSettings"]["minNodeCount"] = min_nodes
    props["scaleSettings"]["maxNodeCount"] = 4
    return body


def workspace_computes() -> FakeTransport:
    """A workspace with two costly computes and two free ones, and a job running on the GPU cluster."""
    computes = [
        instance("ci-running", "Running"),
        instance("ci-stopped", "Stopped"),
        cluster("gpu-cluster", current=2, low=True),
        cluster("warm-cluster", current=0, min_nodes=1, size="STANDARD_D4S_V3"),
        cluster("idle-cluster", current=0),
    ]
    job = job_body("train-1", status="Running")
    job["properties"]["computeId"] = ws_id("computes", "gpu-cluster")
    return (
        FakeTransport()
        .add("GET", rf"{COMPUTES}\?", Canned(200, {"value": computes}))
        .add("GET", rf"{JOBS}\?", Canned(200, {"value": [job]}))
    )


class RecordedPrices:
    """The Retail Prices API as recorded: NC6s v3 in eastus (two pages); nothing else is known."""

    def __init__(self) -> None:
        first = json.loads((RECORDED / "nc6s_v3_eastus_page1.json").read_text())
        self.pages = {
            query_url("Standard_NC6s_v3", "eastus"): first,
            first["NextPageLink"]: json.loads((RECORDED / "nc6s_v3_eastus_page2.json").read_text()),
        }

    def __call__(self, url: str) -> Any:
        return self.pages.get(url) or {"Items": [], "NextPageLink": None, "Count": 0}


def test_running_instances_and_clusters_with_nodes_are_found_and_priced(tmp_path: Path) -> None:
    transport = workspace_computes()
    prices = PriceBook(tmp_path / "prices.json", fetch=RecordedPrices(), clock=lambda: NOW)
    users = StaticUserDirectory({"foobar@microsoft.com": "U_FOO"})
    found = find_costly(make_backend(transport), None, NOW, prices=prices, users=users)

    by_name = {c.info.name: c for c in found}
    assert sorted(by_name) == ["ci-running", "gpu-cluster", "warm-cluster"]  # not ci-stopped, not idle-cluster
    assert [c.info.name for c in found] == ["gpu-cluster", "ci-running", "warm-cluster"]  # dearest first

    gpu = by_name["gpu-cluster"]
    assert (gpu.info.kind, gpu.nodes, gpu.jobs_running, gpu.job_names) == (ComputeKind.CLUSTER, 2, 1, ("train-1",))
    assert gpu.price is not None and gpu.price.meter == "NC6s v3 Low Priority"  # the low-priority meter, × 2 nodes
    assert gpu.per_hour == 1.224 and gpu.price.source is PriceSource.API
    assert gpu.running_seconds is None and gpu.to_item()["action"] == "scale_to_zero"

    ci = by_name["ci-running"]
    assert ci.running_seconds == timedelta(hours=2).total_seconds()
    assert ci.price is not None and (ci.per_hour, ci.price.label) == (0.293, "fallback table (approximate)")
    assert ci.cost_so_far is not None and round(ci.cost_so_far, 3) == 0.586
    assert (ci.jobs_running, ci.creator_slack_id, ci.to_item()["action"]) == (0, "U_FOO", "stop")

    warm = by_name["warm-cluster"]  # no nodes yet, but a minimum of one that never goes away
    assert (warm.nodes, warm.per_hour) == (1, 0.192)
    assert transport.unmatched == []


def test_a_reminder_stop_stops_the_azure_instance_once(tmp_path: Path) -> None:
    transport = workspace_computes()
    stop = example_response(f"{ML_EXAMPLES}/Compute/stop.json", "202", poll_url=async_op("st1")["Azure-AsyncOperation"])
    transport.add(
        "GET",
        rf"{COMPUTES}/ci-running\?",
        Canned(200, instance("ci-running", "Running")),
        Canned(200, instance("ci-running", "Stopped")),
    )
    transport.add("POST", rf"{COMPUTES}/ci-running/stop\?", stop)
    transport.add("GET", "operationStatuses/st1", Canned(200, {"status": "Succeeded"}))
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    create_schema(engine)
    clock = FakeClock(NOW)
    prices = PriceBook(None, fetch=RecordedPrices(), clock=clock)
    service = ReminderService(
        engine, make_backend(transport), Outbox(clock), ReminderSchedule(), prices=prices, clock=clock, channels=["C1"]
    )
    (sent,) = service.sweep().sent
    assert sent.computes == 3

    assert service.stop(sent.reminder_id, "ci-running", by="U_OP").message.startswith("Stopped `ci-running`")
    assert not service.stop(sent.reminder_id, "ci-running", by="U_OP").ok
    assert len(transport.sent("POST", "/stop")) == 1
    assert transport.unmatched == []
    engine.dispose()


def test_a_reminder_scale_to_zero_sets_the_azure_clusters_minimum_to_zero_once(tmp_path: Path) -> None:
    transport = workspace_computes()
    transport.add(
        "GET",
        rf"{COMPUTES}/warm-cluster\?",
        Canned(200, cluster("warm-cluster", current=0, min_nodes=1, size="STANDARD_D4S_V3")),
        Canned(200, cluster("warm-cluster", current=0, min_nodes=0, size="STANDARD_D4S_V3")),
    )
    transport.add(
        "PATCH",
        rf"{COMPUTES}/warm-cluster\?",
        Canned(200, cluster("warm-cluster", current=0, min_nodes=0, size="STANDARD_D4S_V3")),
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'aml-bot.db'}")
    create_schema(engine)
    clock = FakeClock(NOW)
    prices = PriceBook(None, fetch=RecordedPrices(), clock=clock)
    service = ReminderService(
        engine, make_backend(transport), Outbox(clock), ReminderSchedule(), prices=prices, clock=clock, channels=["C1"]
    )
    (sent,) = service.sweep().sent

    scaled = service.stop(sent.reminder_id, "warm-cluster", by="U_OP")
    assert scaled.ok and scaled.message.startswith(
        "`warm-cluster` now scales to zero: its minimum went from 1 node(s) to 0, so its idle nodes ($0.19/h each)"
    )
    assert not service.stop(sent.reminder_id, "warm-cluster", by="U_OP").ok
    (patch,) = transport.sent("PATCH")
    assert patch.path.endswith("/computes/warm-cluster")
    assert patch.json()["properties"]["properties"]["scaleSettings"]["minNodeCount"] == 0
    assert transport.unmatched == []
    engine.dispose()
