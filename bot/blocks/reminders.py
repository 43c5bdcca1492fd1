"""Block Kit for running-compute reminders: the grouped message with a Stop / Snooze / Keep row per compute,
and the replies in its thread (stop results, snooze notes).

Payloads are what `services.reminder_sweep.reminder_payload` documents, after the outbox's JSON round trip.
Each compute takes two blocks (its facts, its buttons), so one message lists at most MAX_LISTED computes inside
Slack's 50 blocks; the others are counted in "…and N more" with the command that shows them. A button's value
is `button_value(reminder_id, compute)`: compute names are at most a few dozen characters (Azure's naming
rule), far inside Slack's 2,000-character limit on values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ConfirmObject, PlainTextObject

from bot.blocks.common import confirm_dialog, header, plural, stored_time, thread_reply
from commands.blocks import MAX_BLOCKS, SECTION_LIMIT, context, cut, mention, section, to_dicts, when
from commands.text import escape
from services.chat import RenderedMessage
from services.reminder_models import KIND_PROGRESS, KIND_REMINDER
from services.reminder_sweep import ACTION_STOP, money

Payload = Mapping[str, Any]

STOP_BUTTON = "reminder.stop"  # Stop (instances) and Scale to zero (clusters): the service tells them apart
SNOOZE_BUTTON = "reminder.snooze"
KEEP_BUTTON = "reminder.keep"
REMINDER_BUTTONS = (STOP_BUTTON, SNOOZE_BUTTON, KEEP_BUTTON)

# Header, summary, "…and N more", snoozed note, footer: what is left of 50 blocks holds two per compute.
_FIXED_BLOCKS = 5
MAX_LISTED = (MAX_BLOCKS - _FIXED_BLOCKS) // 2

_PROGRESS_EMOJI = {"stop-started": ":hourglass_flowing_sand:", "stop-finished": ":octagonal_sign:"}
_NOTE_EMOJI = {"snooze": ":zzz:", "keep": ":pushpin:"}


def button_value(reminder_id: int, compute: str) -> str:
    """What a reminder's button carries: which reminder and which compute in it."""
    return json.dumps({"reminder_id": reminder_id, "compute": compute}, separators=(",", ":"))


def parse_button_value(value: str) -> tuple[int, str] | None:
    """(reminder id, compute) from a button's value; None when it is not one of ours."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    reminder_id, compute = data.get("reminder_id"), data.get("compute")
    if isinstance(reminder_id, bool) or not isinstance(reminder_id, int) or not isinstance(compute, str):
        return None
    return (reminder_id, compute) if compute.strip() else None


def reminder_message(payload: Payload) -> RenderedMessage:
    """The grouped reminder: what runs, for how long, what it costs, whose it is, and a row of buttons each."""
    items = [item for item in payload.get("items") or [] if isinstance(item, Mapping)]
    listed = items[:MAX_LISTED]
    more = _count_of(payload.get("more")) + len(items) - len(listed)
    reminder_id = _count_of(payload.get("reminder_id"))
    blocks: list[Block] = [
        header(_title(payload)),
        section(_summary(payload, items)),
    ]
    for index, item in enumerate(listed):
        blocks.append(section(item_text(item)))
        blocks.append(_buttons(reminder_id, index, item, payload))
    if more:
        blocks.append(
            context(
                f"…and {more} more not listed here: `/aml compute list` shows them all, "
                "`/aml compute stop NAME` stops an instance."
            )
        )
    snoozed = _count_of(payload.get("snoozed"))
    if snoozed:
        note = f"{plural(snoozed, 'snoozed compute')} not listed (`/aml remind status` shows snoozes)."
        blocks.append(context(note))
    blocks.append(context(_footer(payload)))
    return RenderedMessage(text=_fallback(payload, items), blocks=tuple(to_dicts(blocks)))


def reminder_progress(payload: Payload) -> RenderedMessage:
    """A reply in the reminder's thread: a stop started or finished, a compute snoozed or kept."""
    stage = str(payload.get("stage") or "")
    emoji = _PROGRESS_EMOJI.get(stage) or _NOTE_EMOJI.get(stage.split(":", 1)[0], ":information_source:")
    return thread_reply(emoji, str(payload.get("text") or ""))


# kind → renderer, for BlockKitRenderer's table
REMINDER_KINDS: Mapping[str, Callable[[Payload], RenderedMessage]] = {
    KIND_REMINDER: reminder_message,
    KIND_PROGRESS: reminder_progress,
}


# ------------------------------------------------------------------------------------------------ parts


def item_text(item: Payload) -> str:
    """One compute: what it is and whose, how long it has run and what that cost, what runs on it."""
    name = escape(str(item.get("name") or "?"), 80)
    what = [f"*`{name}`*", escape(str(item.get("kind") or "compute"), 20)]
    if item.get("size"):
        what.append(escape(str(item["size"]), 64))
    if item.get("kind") == "cluster":
        nodes = _count_of(item.get("nodes"))
        what.append(f"{plural(nodes, 'node')} (min {_count_of(item.get('min_nodes'))})")
        if item.get("tier") == "low_priority":
            what.append("low priority")
    creator = mention(item.get("creator_slack_id"))
    if creator:
        what.append(f"created by {creator}")
    return "\n".join([" · ".join(what), _cost_line(item), _jobs_line(item)])


def _cost_line(item: Payload) -> str:
    currency = item.get("currency")
    running = f"Running *{escape(str(item['running_for']), 40)}*" if item.get("running_for") else "Running time unknown"
    if item.get("per_hour") is None:
        return f"{running} · price unknown for this size and region"
    parts = [running]
    if item.get("cost_so_far") is not None:
        parts.append(f"about *{money(item['cost_so_far'], currency)}* so far")
    parts.append(f"*{money(item['per_hour'], currency)}/h*")
    label = escape(str(item.get("price_label") or "price source unknown"), 120)
    return " · ".join(parts) + f" _(price: {label})_"


def _jobs_line(item: Payload) -> str:
    running, queued = item.get("jobs_running"), _count_of(item.get("jobs_queued"))
    if running is None:
        return "Jobs on it: unknown (they could not be listed)"
    running = _count_of(running)
    if not running and not queued:
        return "No jobs running on it"
    words = [f"{plural(running, 'job')} running"] if running else ["no jobs running"]
    if queued:
        words.append(f"{queued} queued")
    names = [f"`{escape(str(n), 80)}`" for n in item.get("job_names") or []]
    said = ", ".join(words)
    return said[0].upper() + said[1:] + (": " + ", ".join(names) if names else "")


def _buttons(reminder_id: int, index: int, item: Payload, payload: Payload) -> ActionsBlock:
    name = str(item.get("name") or "")
    value = button_value(reminder_id, name)
    hours = payload.get("snooze_hours")
    hours = hours if isinstance(hours, int | float) and hours > 0 else 2
    stop = ButtonElement(
        text=PlainTextObject(text="Stop" if item.get("action") == ACTION_STOP else "Scale to zero"),
        action_id=STOP_BUTTON,
        value=value,
        style="danger",
        confirm=_stop_confirm(item) if item.get("action") == ACTION_STOP else None,
    )
    snooze = ButtonElement(text=PlainTextObject(text=f"Snooze {hours:g} h"), action_id=SNOOZE_BUTTON, value=value)
    keep = ButtonElement(text=PlainTextObject(text="Keep until tomorrow"), action_id=KEEP_BUTTON, value=value)
    return ActionsBlock(block_id=f"reminder-{reminder_id}-{index}", elements=[stop, snooze, keep])


def _stop_confirm(item: Payload) -> ConfirmObject:
    name = str(item.get("name") or "this compute")
    busy = _count_of(item.get("jobs_running"))
    jobs = f" {plural(busy, 'job')} {'is' if busy == 1 else 'are'} running on it." if busy else ""
    text = f"Stopping {name} ends open notebook and terminal sessions; files on its disk are kept.{jobs}"
    return confirm_dialog("Stop this compute?", text, "Yes, stop it")


def _title(payload: Payload) -> str:
    per_hour = payload.get("total_per_hour")
    cost = f": about {money(per_hour)}/h" if isinstance(per_hour, int | float) else ""
    return f":money_with_wings: Compute running and costing money{cost}"


def _summary(payload: Payload, items: Sequence[Payload]) -> str:
    count = _count_of(payload.get("count"))
    totals = []
    if isinstance(payload.get("total_per_hour"), int | float):
        totals.append(f"about *{money(payload['total_per_hour'])}/h* in all")
    if isinstance(payload.get("total_so_far"), int | float):
        # Computes whose running time is unknown add nothing to the total so far.
        partial = "at least " if any(i.get("cost_so_far") is None for i in items) else ""
        totals.append(f"{partial}*{money(payload['total_so_far'])}* spent so far")
    cost = f" ({', '.join(totals)})" if totals else ""
    verb = "is" if count == 1 else "are"
    return (
        f"{plural(count, 'compute')} {verb} running and costing money{cost}. "
        "Stop what nobody needs; snooze or keep what someone still uses."
    )


def _footer(payload: Payload) -> str:
    swept = when(stored_time(payload.get("swept_at")))
    return (
        f"Checked {swept}. Costs are estimates: hourly price × nodes × time running. "
        "`/aml remind snooze NAME 2h` snoozes from the keyboard; `/aml remind status` shows the schedule."
    )


def _fallback(payload: Payload, items: Sequence[Payload]) -> str:
    """The notification text: how many, the total, the first names, and the creators (so they are notified)."""
    count = _count_of(payload.get("count"))
    per_hour = payload.get("total_per_hour")
    cost = f" (about {money(per_hour)}/h)" if isinstance(per_hour, int | float) else ""
    names = [f"`{escape(str(i.get('name')), 80)}`" for i in items[:5]]
    rest = count - len(names)
    listed = ", ".join(names) + (f" and {rest} more" if rest > 0 else "")
    mentions = " ".join(mention(str(u)) for u in payload.get("mentions") or [] if u)
    text = f"{plural(count, 'compute')} running and costing money{cost}: {listed}."
    return cut(f"{text} {mentions}".strip(), SECTION_LIMIT)


# ------------------------------------------------------------------------------------------------ words


def _count_of(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
