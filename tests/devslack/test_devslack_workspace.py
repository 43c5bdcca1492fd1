"""Workspace state: seed, timestamps, waiting without sleeping, call log."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bot.devslack import Workspace, load_seed


def test_seed() -> None:
    ws = load_seed()
    assert (ws.team.id, ws.team.name, ws.bot.user_id, ws.bot.name) == (
        "T0LOCAL",
        "Local ML team",
        "U_AMLBOT",
        "aml-bot",
    )
    alice, carol = ws.user("U_ALICE"), ws.user("carol@example.com")
    assert alice is not None and alice.is_admin and alice.real_name == "Alice Admin"
    assert carol is not None and carol.id == "U_CAROL" and not carol.is_admin
    ml = ws.find_channel("#ml-team")
    assert ml is not None and ml.id == "C_ML" and set(ml.members) == {"U_ALICE", "U_BOB", "U_CAROL"}
    assert ws.find_channel("C_GENERAL") is not None and ws.find_channel("random") is None
    group = ws.directory.usergroup("S_MLOPS")
    assert group is not None and group.handle == "mlops" and group.users == ("U_ALICE", "U_BOB")


def test_timestamps_are_unique_and_increasing_across_threads() -> None:
    ws = load_seed()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: ws.post_message("C_ML", text=str(i)), range(200)))
    stamps = [m.ts for m in ws.messages("C_ML")]
    assert len(set(stamps)) == 200 and stamps == sorted(stamps, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_wait_until_wakes_on_change_and_times_out() -> None:
    ws = load_seed()
    timer = threading.Timer(0.05, lambda: ws.post_message("C_ML", text="late"))
    timer.start()
    assert ws.wait_until(lambda: any(m.text == "late" for m in ws.messages("C_ML")), timeout=5)
    assert not ws.wait_until(lambda: len(ws.messages("C_ML")) > 1, timeout=0.05)
    timer.join()


def test_empty_workspace_and_latest_with_buttons() -> None:
    ws = Workspace()
    assert ws.bot.user_id == "U_AMLBOT" and ws.find_channel("C_ML") is None
    seeded = load_seed()
    button = {
        "type": "actions",
        "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}}],
    }
    older = seeded.post_message("C_ML", text="a", blocks=[button])
    seeded.post_message("C_ML", text="b")
    mine = seeded.post_ephemeral("C_ML", "U_BOB", text="c", blocks=[button])
    assert seeded.latest_with_buttons("C_ML", "U_BOB").ts == mine.ts  # type: ignore[union-attr]
    assert seeded.latest_with_buttons("C_ML", "U_ALICE").ts == older.ts  # type: ignore[union-attr]
    assert seeded.latest_with_buttons("C_GENERAL", "U_ALICE") is None
    version = seeded.version
    seeded.record_call("chat.update", {"ts": older.ts}, 200)
    assert seeded.version > version and seeded.calls("chat.update")[0].params == {"ts": older.ts}
