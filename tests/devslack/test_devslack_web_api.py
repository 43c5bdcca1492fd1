"""The Web API methods through slack_sdk.WebClient over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devslack import LocalSlack


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def test_auth_test_and_bad_tokens(local_slack: LocalSlack, client: WebClient) -> None:
    me = client.auth_test()
    assert (me["user_id"], me["team_id"], me["bot_id"]) == ("U_AMLBOT", "T0LOCAL", "B_AMLBOT")
    bad = WebClient(token="xoxb-wrong", base_url=local_slack.api_url)
    assert error_of(lambda: bad.chat_postMessage(channel="C_ML", text="x")) == "invalid_auth"
    assert error_of(lambda: WebClient(base_url=local_slack.api_url).auth_test()) == "not_authed"
    assert error_of(lambda: client.api_call("chat.explode")) == "unknown_method"
    assert local_slack.workspace.messages("C_ML") == []


def test_post_thread_update_delete(local_slack: LocalSlack, client: WebClient) -> None:
    ws = local_slack.workspace
    parent = client.chat_postMessage(channel="C_ML", text="Job *train-1* submitted")
    assert parent["channel"] == "C_ML" and parent["message"]["bot_id"] == "B_AMLBOT"
    r1 = client.chat_postMessage(channel="C_ML", text="running", thread_ts=parent["ts"])
    client.chat_postMessage(channel="#ml-team", text="done", thread_ts=parent["ts"], reply_broadcast=True)
    assert [m.text for m in ws.messages("C_ML")] == ["Job *train-1* submitted", "done"]
    assert [m.text for m in ws.replies("C_ML", parent["ts"])] == ["running", "done"]
    assert ws.message("C_ML", parent["ts"]).reply_count == 2  # type: ignore[union-attr]

    updated = client.chat_update(channel="C_ML", ts=r1["ts"], text="running (50%)")
    assert updated["ts"] == r1["ts"] and updated["message"]["edited"]["user"] == "U_AMLBOT"
    thread = client.conversations_replies(channel="C_ML", ts=parent["ts"])["messages"]
    assert [m["text"] for m in thread] == ["Job *train-1* submitted", "running (50%)", "done"]
    assert thread[0]["reply_count"] == 2 and thread[2]["subtype"] == "thread_broadcast"
    assert any(c.method == "chat.update" and c.params["ts"] == r1["ts"] for c in ws.api_calls)

    history = client.conversations_history(channel="C_ML")["messages"]
    assert [m["text"] for m in history] == ["done", "Job *train-1* submitted"]  # newest first
    client.chat_delete(channel="C_ML", ts=r1["ts"])
    assert [m.text for m in ws.replies("C_ML", parent["ts"])] == ["done"]
    assert error_of(lambda: client.chat_update(channel="C_ML", ts=r1["ts"], text="x")) == "message_not_found"


def test_update_keeps_blocks_unless_replaced(client: WebClient, local_slack: LocalSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "old"}}]
    posted = client.chat_postMessage(channel="C_ML", text="fallback", blocks=blocks)
    client.chat_update(channel="C_ML", ts=posted["ts"], text="new fallback")
    message = local_slack.workspace.message("C_ML", posted["ts"])
    assert message is not None and message.blocks[0]["text"]["text"] == "old" and message.edit_count == 1
    client.chat_update(channel="C_ML", ts=posted["ts"], text="plain", blocks=[])
    message = local_slack.workspace.message("C_ML", posted["ts"])
    assert message is not None and message.blocks == [] and message.text == "plain"


def test_errors_as_slack_answers_them(client: WebClient) -> None:
    assert error_of(lambda: client.chat_postMessage(channel="C_NOPE", text="x")) == "channel_not_found"
    assert error_of(lambda: client.api_call("chat.postMessage", json={"channel": "C_ML"})) == "no_text"
    assert (
        error_of(lambda: client.chat_postMessage(channel="C_ML", text="x", thread_ts="1.2"))
        == "thread_not_found"
    )
    too_many = [{"type": "divider"}] * 51
    assert (
        error_of(lambda: client.chat_postMessage(channel="C_ML", text="x", blocks=too_many))
        == "invalid_blocks"
    )
    assert error_of(lambda: client.chat_postMessage(channel="C_ML", text="x" * 40_001)) == "msg_too_long"
    assert error_of(lambda: client.conversations_info(channel="C_NOPE")) == "channel_not_found"
    assert error_of(lambda: client.conversations_history(channel="")) == "channel_not_found"


def test_form_encoded_blocks_are_accepted(local_slack: LocalSlack, client: WebClient) -> None:
    # The Web API also takes blocks as a JSON string inside a form body.
    blocks = '[{"type": "section", "text": {"type": "mrkdwn", "text": "from a form"}}]'
    response = client.api_call("chat.postMessage", params={"channel": "C_ML", "text": "f", "blocks": blocks})
    message = local_slack.workspace.message("C_ML", response["ts"])
    assert message is not None and message.blocks[0]["text"]["text"] == "from a form"
    assert message.blocks[0]["block_id"]  # Slack assigns block ids


def test_ephemeral_and_permalink(local_slack: LocalSlack, client: WebClient) -> None:
    eph = client.chat_postEphemeral(channel="C_ML", user="U_BOB", text="only bob")
    assert eph["message_ts"]
    assert [(e.user, e.text) for e in local_slack.workspace.ephemerals("C_ML")] == [("U_BOB", "only bob")]
    assert local_slack.workspace.ephemerals(user="U_ALICE") == []
    assert local_slack.workspace.messages("C_ML") == []
    assert (
        error_of(lambda: client.chat_postEphemeral(channel="C_ML", user="U_NOBODY", text="x"))
        == "user_not_found"
    )

    parent = client.chat_postMessage(channel="C_ML", text="p")
    reply = client.chat_postMessage(channel="C_ML", text="r", thread_ts=parent["ts"])
    link = client.chat_getPermalink(channel="C_ML", message_ts=parent["ts"])["permalink"]
    assert link == f"{local_slack.base_url}archives/C_ML/p{parent['ts'].replace('.', '')}"
    reply_link = client.chat_getPermalink(channel="C_ML", message_ts=reply["ts"])["permalink"]
    assert reply_link.endswith(f"?thread_ts={parent['ts']}&cid=C_ML")
    assert error_of(lambda: client.chat_getPermalink(channel="C_ML", message_ts="1.1")) == "message_not_found"


def test_conversations_open_and_dm(local_slack: LocalSlack, client: WebClient) -> None:
    opened = client.conversations_open(users="U_BOB")
    assert opened["channel"]["id"] == "D_U_BOB" and opened["already_open"] is False
    assert client.conversations_open(users=["U_BOB"])["already_open"] is True
    client.chat_postMessage(channel="D_U_BOB", text="hi bob")
    client.chat_postMessage(channel="U_CAROL", text="hi carol")  # a user id posts to the DM
    assert [m.text for m in local_slack.workspace.messages("D_U_CAROL")] == ["hi carol"]
    info = client.conversations_info(channel="C_ML")["channel"]
    assert (info["name"], info["is_channel"], info["num_members"]) == ("ml-team", True, 3)


def test_users_and_groups(client: WebClient) -> None:
    alice = client.users_info(user="U_ALICE")["user"]
    assert (alice["name"], alice["real_name"], alice["is_admin"]) == ("alice", "Alice Admin", True)
    assert alice["profile"]["email"] == "alice@example.com"
    assert client.users_lookupByEmail(email="bob@example.com")["user"]["id"] == "U_BOB"
    assert error_of(lambda: client.users_lookupByEmail(email="eve@example.com")) == "users_not_found"
    names = {m["name"] for m in client.users_list()["members"]}
    assert names == {"alice", "bob", "carol", "aml-bot"}
    assert client.usergroups_users_list(usergroup="S_MLOPS")["users"] == ["U_ALICE", "U_BOB"]
    assert error_of(lambda: client.usergroups_users_list(usergroup="S_NONE")) == "no_such_subteam"
    groups = client.usergroups_list(include_users=True)["usergroups"]
    assert [(g["id"], g["handle"], g["users"]) for g in groups] == [
        ("S_MLOPS", "mlops", ["U_ALICE", "U_BOB"])
    ]


def test_history_pagination(client: WebClient) -> None:
    for i in range(5):
        client.chat_postMessage(channel="C_GENERAL", text=f"m{i}")
    first = client.conversations_history(channel="C_GENERAL", limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"] and first["has_more"]
    texts = [
        m["text"]
        for page in client.conversations_history(channel="C_GENERAL", limit=2)
        for m in page["messages"]
    ]
    assert texts == ["m4", "m3", "m2", "m1", "m0"]


MODAL = {
    "type": "modal",
    "callback_id": "submit_job",
    "title": {"type": "plain_text", "text": "Submit job"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Pick a compute"}}],
}


def test_views_open_update_push_publish(local_slack: LocalSlack, client: WebClient) -> None:
    trigger = local_slack.new_trigger_id("U_ALICE")
    opened = client.views_open(trigger_id=trigger, view={**MODAL, "external_id": "job-form"})["view"]
    assert opened["id"] and opened["hash"] and opened["callback_id"] == "submit_job"
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == "trigger_exchanged"
    assert error_of(lambda: client.views_open(trigger_id="123.456.abc", view=MODAL)) == "invalid_trigger_id"

    changed = {**MODAL, "title": {"type": "plain_text", "text": "Submitting"}}
    updated = client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert error_of(lambda: client.views_update(view_id=opened["id"], view=MODAL, hash=opened["hash"])) == (
        "hash_conflict"
    )
    by_external = client.views_update(external_id="job-form", view=MODAL)["view"]
    assert by_external["id"] == opened["id"] and by_external["title"]["text"] == "Submit job"
    assert error_of(lambda: client.views_update(view_id="V_NONE", view=MODAL)) == "not_found"

    pushed = client.views_push(trigger_id=local_slack.new_trigger_id("U_ALICE"), view=MODAL)["view"]
    assert pushed["root_view_id"] == opened["id"] and pushed["previous_view_id"] == opened["id"]
    assert [v.id for v in local_slack.workspace.views.stack("U_ALICE")] == [opened["id"], pushed["id"]]

    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "3 jobs"}}]}
    first = client.views_publish(user_id="U_BOB", view=home)["view"]
    again = client.views_publish(user_id="U_BOB", view=home)["view"]
    assert first["id"] == again["id"] and first["type"] == "home"
    published = local_slack.workspace.views.home("U_BOB")
    assert published is not None and published.definition["blocks"][0]["text"]["text"] == "3 jobs"
    assert local_slack.workspace.views.home("U_ALICE") is None


def test_trigger_ids_expire(local_slack: LocalSlack, client: WebClient) -> None:
    local_slack.interactivity.trigger_ttl = 0.0
    trigger = local_slack.new_trigger_id("U_ALICE")
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == "expired_trigger_id"


def test_files_upload_v2_into_a_thread(local_slack: LocalSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C_ML", text="Job logs")
    result = client.files_upload_v2(
        channel="C_ML",
        thread_ts=parent["ts"],
        content=b"epoch 1 loss 0.3\n",
        filename="train.log",
        title="Training log",
        initial_comment="Here are the logs",
    )
    assert result["file"]["name"] == "train.log" and result["file"]["title"] == "Training log"
    (shared,) = local_slack.workspace.files.list("C_ML", thread_ts=parent["ts"])
    assert shared.content == b"epoch 1 loss 0.3\n" and shared.title == "Training log"
    (reply,) = local_slack.workspace.replies("C_ML", parent["ts"])
    assert reply.text == "Here are the logs" and reply.files[0]["id"] == shared.id
    assert [c.method for c in local_slack.workspace.api_calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    download = client.api_call("files.info", params={"file": shared.id})["file"]["url_private"]
    assert download.startswith(local_slack.base_url)


def test_files_complete_requires_uploaded_bytes(client: WebClient) -> None:
    reserved = client.files_getUploadURLExternal(filename="x.txt", length=3)
    assert error_of(lambda: client.files_completeUploadExternal(files=[{"id": reserved["file_id"]}])) == (
        "file_not_found"
    )
