"""The running-compute reminder as Slack draws it: one row per compute with its cost and its buttons, creators
mentioned, Block Kit limits kept however long the list; and the thread replies and plain-text fallbacks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.blocks.reminders import KEEP_BUTTON, SNOOZE_BUTTON, STOP_BUTTON, parse_button_value
from bot.blocks.renderer import BlockKitRenderer
from bot.devslack.blocks import buttons, parse_blocks
from services.chat import RenderedMessage, TextRenderer
from services.models import ComputeInfo, ComputeKind
from services.outbox import jsonable
from services.pricing import Price, PriceSource
from services.reminder_sweep import CostlyCompute, reminder_payload
from services.reminders import KIND_PROGRESS, KIND_REMINDER

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FALLBACK = Price(3.06, "USD", PriceSource.FALLBACK, "fallback table (approximate)")


def instance(name: str = "dev-instance", rate: float = 0.30, hours: float = 2.5, creator: str | None = "U_ADA") -> Any:
    since = NOW - timedelta(hours=hours)
    info = ComputeInfo(name, ComputeKind.INSTANCE, "Standard_DS11_v2", "Running", running_since=since)
    return CostlyCompute(info, "//", None, 1, Price.configured(rate), hours * 3600, 0, 0, (), creator).to_item()


def cluster() -> Any:
    info = ComputeInfo("gpu-cluster", ComputeKind.CLUSTER, "Standard_NC6s_v3", "Running", 2, 0, 4, tier="low_priority")
    return CostlyCompute(info, "//", None, 2, FALLBACK, None, 1, 2, ("train-7x2",), None).to_item()


def render(items: list[Any], kind: str = KIND_REMINDER, **options: Any) -> RenderedMessage:
    """Render the payload as the outbox stores it (JSON, datetimes as ISO strings)."""
    payload = reminder_payload(42, "C_ML", "2026-03-02T14:00:00+00:00", items, swept_at=NOW, **options)
    return BlockKitRenderer().render(kind, json.loads(json.dumps(jsonable(payload))))


def shown(message: RenderedMessage) -> str:
    return json.dumps(list(message.blocks), ensure_ascii=False)


def sections(message: RenderedMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def test_each_compute_says_what_it_is_whose_how_long_and_what_it_costs() -> None:
    message = render([cluster(), instance()])
    text = shown(message)
    assert message.blocks[0]["text"]["text"] == ":money_with_wings: Compute running and costing money: about $6.42/h"
    assert "2 computes are running and costing money (about *$6.42/h* in all, at least *$0.75* spent so far)" in text
    [ci] = [s for s in sections(message) if "dev-instance" in s]
    assert "instance · Standard_DS11_v2 · created by <@U_ADA>" in ci
    assert "Running *2 h 30 min* · about *$0.75* so far · *$0.30/h* _(price: configured rate)_" in ci
    assert "No jobs running on it" in ci
    [gpu] = [s for s in sections(message) if "gpu-cluster" in s]
    assert "cluster · Standard_NC6s_v3 · 2 nodes (min 0) · low priority" in gpu
    assert "Running time unknown · *$6.12/h* _(price: fallback table (approximate))_" in gpu
    assert "1 job running, 2 queued: `train-7x2`" in gpu
    assert "<!date^" in text, "when it was checked, in each reader's time zone"
    parse_blocks(list(message.blocks))  # Slack would accept it


def test_instances_get_stop_clusters_scale_to_zero_and_both_snooze_and_keep() -> None:
    message = render([cluster(), instance()])
    found = buttons({"blocks": list(message.blocks)})
    assert [(b.text, b.action_id) for b in found] == [
        ("Scale to zero", STOP_BUTTON),
        ("Snooze 2 h", SNOOZE_BUTTON),
        ("Keep until tomorrow", KEEP_BUTTON),
        ("Stop", STOP_BUTTON),
        ("Snooze 2 h", SNOOZE_BUTTON),
        ("Keep until tomorrow", KEEP_BUTTON),
    ]
    assert [parse_button_value(b.value or "") for b in found] == [(42, "gpu-cluster")] * 3 + [(42, "dev-instance")] * 3
    assert all(len(b.value or "") <= 2000 for b in found)
    stop = found[3].element
    assert stop["confirm"]["confirm"]["text"] == "Yes, stop it" and "dev-instance" in stop["confirm"]["text"]["text"]
    assert "confirm" not in found[0].element, "scaling a cluster to zero keeps running jobs and ends no session"


def test_the_snooze_button_says_how_long_it_snoozes() -> None:
    message = render([instance()], snooze_hours=4)
    assert [b.text for b in buttons({"blocks": list(message.blocks)})][1] == "Snooze 4 h"


def test_a_long_list_stays_inside_50_blocks_and_counts_the_rest() -> None:
    items = [instance(f"ci-{n:02}", rate=0.1 + n / 100) for n in range(60)]
    message = render(items, max_items=60)
    parse_blocks(list(message.blocks))
    assert len(message.blocks) <= 50
    listed = len(re.findall(r"\*`ci-\d\d`\*", shown(message)))
    more = re.search(r"…and (\d+) more not listed here", shown(message))
    assert more is not None and listed + int(more.group(1)) == 60, "every compute is either listed or counted"
    assert len(buttons({"blocks": list(message.blocks)})) == 3 * listed


def test_what_the_sweep_left_out_and_snoozed_is_counted() -> None:
    message = render([instance(f"ci-{n:02}") for n in range(20)], max_items=15, snoozed=2)
    text = shown(message)
    assert "…and 5 more not listed here" in text and "`/aml compute list`" in text
    assert "2 snoozed computes not listed" in text


def test_a_compute_without_a_price_says_so_instead_of_guessing() -> None:
    info = ComputeInfo("odd-box", ComputeKind.INSTANCE, "Standard_Weird_v9", "Running", running_since=NOW)
    item = CostlyCompute(info, "//", None, 1, None, 60.0, None, None, (), None).to_item()
    [line] = [s for s in sections(render([item])) if "odd-box" in s]
    assert "price unknown for this size and region" in line and "$" not in line
    assert "Jobs on it: unknown" in line


def test_the_notification_text_names_computes_cost_and_creators() -> None:
    message = render([cluster(), instance()])
    assert message.text == (
        "2 computes running and costing money (about $6.42/h): `gpu-cluster`, `dev-instance`. <@U_ADA>"
    )


def test_markup_from_azure_cannot_break_the_message() -> None:
    item = {**instance(), "size": "Standard_<b>&", "price_label": "API <cached>"}
    [line] = [s for s in sections(render([item])) if "dev-instance" in s]
    assert "Standard_&lt;b&gt;&amp;" in line and "API &lt;cached&gt;" in line


def test_thread_replies_keep_mentions_and_escape_the_rest() -> None:
    payload = {"reminder_id": 42, "compute": "dev-instance", "stage": "stop-finished",
               "text": "Could not stop `dev-instance`: Azure said <busy> & gave up, <@U_BOB>"}  # fmt: skip
    message = BlockKitRenderer().render(KIND_PROGRESS, payload)
    assert message.text == "Could not stop `dev-instance`: Azure said &lt;busy&gt; &amp; gave up, <@U_BOB>"
    assert message.blocks[0]["text"]["text"].startswith(":octagonal_sign: Could not stop")
    snoozed = BlockKitRenderer().render(KIND_PROGRESS, {**payload, "stage": "snooze:20260302T1600", "text": "ok"})
    assert snoozed.blocks[0]["text"]["text"] == ":zzz: ok"


def test_the_plain_renderer_shows_the_payloads_own_words() -> None:
    payload = reminder_payload(42, "C_ML", "slot", [instance()], swept_at=NOW)
    assert TextRenderer().render(KIND_REMINDER, payload).text == payload["text"]
    assert "`dev-instance` (instance, Standard_DS11_v2): running 2 h 30 min" in payload["text"]
    progress = {"reminder_id": 42, "compute": "dev-instance", "stage": "stop-started", "text": "on it…"}
    assert TextRenderer().render(KIND_PROGRESS, progress).text == "on it…"


def test_a_button_value_that_is_not_ours_is_recognised() -> None:
    assert parse_button_value('{"reminder_id":7,"compute":"gpu"}') == (7, "gpu")
    for value in ("7", "not json", '{"reminder_id":"7","compute":"gpu"}', '{"reminder_id":7}', '[7,"gpu"]'):
        assert parse_button_value(value) is None, value
