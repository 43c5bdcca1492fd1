"""services.redaction: secrets planted in Azure errors, job logs and Block Kit go; ordinary text stays as it is."""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.blocks.renderer import job_root, job_summary
from services.cloud.azure.errors import redact as azure_redact
from services.cloud.azure.errors import to_service_error
from services.cloud.azure.job_logs import tail
from services.redaction import MASK, redact, redact_value

ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SAS_SIG = "Xq3aPbLr8%2BfZ0kT1wYcV9mN4sD7gH2jK5lQ6eR0tU8o%3D"
SAS_URL = (
    "https://stamlbot.blob.core.windows.net/azureml/ExperimentRun/dcid.frosty_cat_0a1b2c3d/user_logs/std_log.txt"
    f"?sv=2021-08-06&st=2026-03-01T10%3A00%3A00Z&se=2026-03-01T18%3A00%3A00Z&sr=b&sp=r&sig={SAS_SIG}"
)
JWT = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ik1uQ19WWmNBVGZNNXBPWWlKSE1iYTlnb0VLWSJ9"
    ".eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIiwiaXNzIjoiaHR0cHM6Ly9zdHMud2luZG93cy5uZXQifQ"
    ".TmFKd2xJc1ZmUzRyX0RQb0V5c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu"
)
BOT_TOKEN = "xoxb-2468013579-1357924680-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
CLIENT_SECRET = "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789._-"[:40]
SB_KEY = "q1w2e3r4t5y6u7i8o9p0AaSsDdFfGgHhJjKkLlZzXx0="

# (planted text, the secret that must not survive, what must survive around it)
PLANTED: list[tuple[str, str, str]] = [
    (f"AccountKey={ACCOUNT_KEY}", ACCOUNT_KEY, "AccountKey=[redacted]"),
    (
        f"DefaultEndpointsProtocol=https;AccountName=stamlbot;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net",
        ACCOUNT_KEY,
        "DefaultEndpointsProtocol=https;AccountName=stamlbot;AccountKey=[redacted];EndpointSuffix=core.windows.net",
    ),
    (f"storage key {ACCOUNT_KEY} rotated", ACCOUNT_KEY, "storage key [redacted] rotated"),
    (
        "Endpoint=sb://ns-aml.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={SB_KEY}",
        SB_KEY,
        "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=[redacted]",
    ),
    (
        "BlobEndpoint=https://stamlbot.blob.core.windows.net/;SharedAccessSignature=sv=2021-08-06&ss=b&srt=co"
        f"&sp=rl&sig={SAS_SIG}",
        SAS_SIG,
        "BlobEndpoint=https://stamlbot.blob.core.windows.net/;SharedAccessSignature=[redacted]",
    ),
    (SAS_URL, SAS_SIG, SAS_URL.replace(SAS_SIG, "[redacted]")),
    (f"Authorization: Bearer {JWT}", JWT, "Authorization: Bearer [redacted]"),
    (f"'Authorization': 'Bearer {JWT}'", JWT, "'Authorization': 'Bearer [redacted]'"),
    (f"token {JWT}", JWT, "token [redacted]"),
    ("Bearer 0.AXoAv4j5cvGGr0GRqy180BHbR-MbTdTr7HNDlM09vTWa0e4", "0.AXoAv4j5cvGGr0GRqy180BHbR", "Bearer [redacted]"),
    (f"posting as {BOT_TOKEN}", BOT_TOKEN, "posting as xoxb-[redacted]"),
    ("user token xoxp-1234567890-0987654321-abcdef", "1234567890-0987654321", "xoxp-[redacted]"),
    ("legacy xoxa-2-1234-abcd and xoxr-5678-efgh", "1234-abcd", "xoxa-[redacted] and xoxr-[redacted]"),
    ("xoxs-1234-5678-sess", "1234-5678-sess", "xoxs-[redacted]"),
    ("app token xapp-1-A0123456789-1234567890-abcdef0123", "A0123456789", "xapp-[redacted]"),
    (f"AMLBOT_SLACK_SIGNING_SECRET={SIGNING_SECRET}", SIGNING_SECRET, "AMLBOT_SLACK_SIGNING_SECRET=[redacted]"),
    (f"AMLBOT_SLACK_BOT_TOKEN={BOT_TOKEN}", BOT_TOKEN, "AMLBOT_SLACK_BOT_TOKEN=[redacted]"),
    (f"AZURE_CLIENT_SECRET={CLIENT_SECRET}", CLIENT_SECRET, "AZURE_CLIENT_SECRET=[redacted]"),
    (f"client secret {CLIENT_SECRET} expires", CLIENT_SECRET, "client secret [redacted] expires"),
    ("client_secret=s3cr3t-V4lue", "s3cr3t-V4lue", "client_secret=[redacted]"),
    ("--password=hunter2hunter2", "hunter2hunter2", "--password=[redacted]"),
    ("PGPASSWORD='correct horse battery'", "correct horse", "PGPASSWORD='[redacted]'"),
    ('{"client_secret": "s3cr3t-V4lue", "tenant": "contoso"}', "s3cr3t-V4lue", '"tenant": "contoso"'),
    ("Namespace(password='hunter2hunter2', lr=0.001)", "hunter2hunter2", "password='[redacted]', lr=0.001"),
    ("postgresql+psycopg://amlbot:hunter2hunter2@db.internal:5432/amlbot", "hunter2hunter2", "@db.internal:5432"),
    ("POST https://bot.example.com/eventgrid?code=Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4", "/eventgrid?code=[redacted]"),
    ("https://hooks.slack.com/services/T0001/B0002/AbCdEfGhIjKlMnOp", "AbCdEfGhIjKlMnOp", "hooks.slack.com/services/"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", "MIIEvQIB", MASK),
]


@pytest.mark.parametrize(("planted", "secret", "kept"), PLANTED, ids=[p[0][:32] for p in PLANTED])
def test_each_kind_of_secret_is_replaced_and_its_surroundings_kept(planted: str, secret: str, kept: str) -> None:
    text = f"2026-03-01T10:07:00Z step 3 failed: {planted} (job frosty_cat_0a1b2c3d)"
    cleaned = redact(text)
    assert secret not in cleaned
    assert kept in cleaned
    assert cleaned.startswith("2026-03-01T10:07:00Z step 3 failed: ")
    assert cleaned.endswith(" (job frosty_cat_0a1b2c3d)")
    assert redact(cleaned) == cleaned  # idempotent


_FILLER = st.text(alphabet=st.sampled_from("abcdefghij ABC0123456789.,:-_/()\n"), max_size=40)


@settings(max_examples=150, deadline=None)
@given(before=_FILLER, after=_FILLER, planted=st.sampled_from(PLANTED))
def test_secrets_go_whatever_text_surrounds_them(before: str, after: str, planted: tuple[str, str, str]) -> None:
    text, secret, _kept = planted
    cleaned = redact(f"{before} {text}\n{after}")
    assert secret not in cleaned
    assert cleaned.startswith(before)
    assert MASK in cleaned


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_redaction_is_idempotent_on_any_text(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


def test_sas_url_keeps_everything_but_the_signature() -> None:
    cleaned = redact(f"GET {SAS_URL} failed")
    assert cleaned == f"GET {SAS_URL.replace(SAS_SIG, MASK)} failed"
    assert "stamlbot.blob.core.windows.net/azureml/ExperimentRun" in cleaned and "&sp=r&" in cleaned


@pytest.mark.parametrize(
    "wrapped",
    [
        "<{url}|std_log.txt>",  # a Slack link
        "`{url}`",  # a code span
        "[log]({url})",  # markdown
        "{escaped}",  # Slack-escaped text: & is &amp;
    ],
)
def test_sas_signature_goes_in_slack_markup_and_the_markup_stays(wrapped: str) -> None:
    text = wrapped.format(url=SAS_URL, escaped=SAS_URL.replace("&", "&amp;"))
    assert redact(text) == text.replace(SAS_SIG, MASK)


def test_planted_in_an_azure_error() -> None:
    error = HttpResponseError(
        message=(
            f"(AuthenticationFailed) Server failed to authenticate the request. Request: GET {SAS_URL} "
            f"with Authorization: Bearer {JWT} using AccountKey={ACCOUNT_KEY}"
        )
    )
    error.status_code = 403
    mapped = to_service_error(error, what="the blob `std_log.txt`")
    assert mapped is not None
    for shown in (str(mapped), redact(str(error))):
        assert SAS_SIG not in shown and JWT not in shown and ACCOUNT_KEY not in shown
    assert "stamlbot.blob.core.windows.net" in redact(str(error))


def test_azure_errors_keep_their_mask_and_share_the_implementation() -> None:
    assert azure_redact(f"AccountKey={ACCOUNT_KEY}") == "AccountKey=***"
    assert azure_redact(f"x {BOT_TOKEN}") == "x xoxb-***"
    # A text scrubbed with "***" is not scrubbed again into something else.
    assert redact("AccountKey=***; sig=***") == "AccountKey=***; sig=***"


JOB_LOG = "".join(
    line + "\n"
    for line in (
        "2026-03-01T10:02:11.482Z INFO azureml._common.process_info Starting process 4242 on node 10.0.0.5",
        "2026-03-01T10:02:11.914Z INFO Job frosty_cat_0a1b2c3d4e (run id 7c9e6679-7425-40de-944b-e07fc1f90ae7) started",
        "[2026-03-01 10:02:12] Using compute cpu-cluster-d4s (Standard_DS3_v2), 4 cores, region eastus",
        "Downloading https://raw.githubusercontent.com/org/repo/main/data/train.csv to /mnt/azureml/cr/j"
        "/0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d/cap/data-capability/wd/INPUT_data/train.csv",
        "Loaded 60000 rows; sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "args: Namespace(epochs=3, lr=0.001, batch_size=64, pad_token='<pad>', eos_token_id=2, seed=42, "
        "tokenizer='bert-base-uncased')",
        "mlflow: logging to azureml://eastus.api.azureml.ms/mlflow/v1.0/subscriptions/"
        "00000000-0000-0000-0000-000000000000/resourceGroups/rg-bot/providers/"
        "Microsoft.MachineLearningServices/workspaces/ws-bot",
        "epoch=1 step=937 loss=0.3412 acc=0.9021 lr=1.0e-03 elapsed=00:01:42",
        "epoch=2 step=1874 loss=0.2047 acc=0.9413 lr=5.0e-04 elapsed=00:03:25",
        "Traceback (most recent call last):",
        '  File "/mnt/azureml/cr/j/0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d/exe/wd/train.py", line 88, in <module>',
        "    main(args)",
        "ValueError: shapes (64,10) and (12,10) not aligned: 10 (dim 1) != 12 (dim 0)",
        "Run id: frosty_cat_0a1b2c3d4e; notified <@U0123ABCDE> in <#C0456FGHIJ|ml-team>; exit code=1 at "
        "2026-03-01T10:06:59+00:00",
        "Commit 3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e, image "
        "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:20240304.v1",
    )
)


def test_a_realistic_job_log_passes_unchanged() -> None:
    assert redact(JOB_LOG) == JOB_LOG
    assert tail(JOB_LOG, 100) == JOB_LOG.rstrip("\n")


def test_planted_in_a_job_log_tail() -> None:
    planted = JOB_LOG + (
        f"Uploading outputs with AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=st;"
        f"AccountKey={ACCOUNT_KEY}\nGET {SAS_URL} -> 403\nenv: AZURE_CLIENT_SECRET={CLIENT_SECRET} "
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\n"
    )
    for shown in (redact(planted), tail(planted, 6)):
        for secret in (ACCOUNT_KEY, SAS_SIG, CLIENT_SECRET, BOT_TOKEN):
            assert secret not in shown
    cleaned = redact(planted)
    assert cleaned.startswith(JOB_LOG)  # the ordinary lines before are untouched
    assert "AccountName=st;AccountKey=[redacted]" in cleaned


def _job_summary(log_tail: str, error: str | None = None) -> Any:
    return job_summary(
        {
            "status": "Failed",
            "job_name": "frosty_cat_0a1b2c3d4e",
            "duration_seconds": 288,
            "compute": "cpu-cluster-d4s",
            "metrics": {"loss": {"last": 0.2047, "min": 0.2047, "max": 0.9, "points": 2}},
            "output_uri": "azureml://datastores/workspaceblobstore/paths/azureml/frosty_cat_0a1b2c3d4e/outputs/",
            "error": error,
            "log_tail": log_tail,
            "studio_url": "https://ml.azure.com/runs/frosty_cat_0a1b2c3d4e?wsid=/subscriptions/"
            "00000000-0000-0000-0000-000000000000/resourcegroups/rg-bot/workspaces/ws-bot"
            "&tid=72f988bf-86f1-41af-91ab-2d7cd011db47",
            "requested_by": "U0123ABCDE",
        }
    )


def test_a_block_kit_message_passes_unchanged() -> None:
    message = _job_summary(JOB_LOG, error="UserError: shapes not aligned")
    blocks = [dict(block) for block in message.blocks]
    assert redact_value(blocks) == blocks
    assert redact(message.text) == message.text
    root = job_root(
        {
            "job": {
                "name": "frosty_cat_0a1b2c3d4e",
                "display_name": "train mnist",
                "status": "Running",
                "compute": "cpu-cluster-d4s",
                "experiment": "mnist",
                "created_at": "2026-03-01T10:02:11+00:00",
                "studio_url": "https://ml.azure.com/runs/frosty_cat_0a1b2c3d4e?wsid=/subscriptions/x",
            },
            "requested_by": "U0123ABCDE",
            "template": "train-cpu",
        }
    )
    assert redact_value(list(root.blocks)) == list(root.blocks)


def test_planted_inside_block_kit_json() -> None:
    message = _job_summary(
        f"GET {SAS_URL}\nconnecting with AccountKey={ACCOUNT_KEY}",
        error=f"Request failed: Authorization: Bearer {JWT}; token {BOT_TOKEN}",
    )
    payload = {"channel": "C0456FGHIJ", "text": message.text, "blocks": list(message.blocks)}
    cleaned = redact_value(payload)
    dumped = json.dumps(cleaned)
    for secret in (SAS_SIG, ACCOUNT_KEY, JWT, BOT_TOKEN):
        assert secret not in dumped
    assert dumped.count(MASK) >= 4
    # Structure, keys and the harmless parts are kept.
    assert [block["type"] for block in cleaned["blocks"]] == [block["type"] for block in payload["blocks"]]
    assert "stamlbot.blob.core.windows.net" in dumped and "frosty_cat_0a1b2c3d4e" in dumped
    assert json.dumps(payload) != dumped and payload["blocks"][0] is not cleaned["blocks"][0]


def test_redact_value_walks_dicts_lists_and_tuples_and_keeps_other_values() -> None:
    value = {"a": [f"x {BOT_TOKEN}", ("AccountKey=" + ACCOUNT_KEY,)], "n": 3, "ok": True, "none": None}
    assert redact_value(value) == {
        "a": ["x xoxb-[redacted]", ("AccountKey=[redacted]",)],
        "n": 3,
        "ok": True,
        "none": None,
    }


@pytest.mark.parametrize(
    "text",
    [
        "Job frosty_cat_0a1b2c3d4e is Running on cpu-cluster-d4s since 2026-03-01T10:02:11Z",
        "<@U0123ABCDE> asked in <#C0456FGHIJ|ml-team>: /aml jobs list --status Failed",
        "run 7c9e6679742540de944be07fc1f90ae7 commit 3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e",
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-bot/providers/"
        "Microsoft.Storage/storageAccounts/testStorageAccountWithAVeryLongNameIndeed",
        "https://ml.azure.com/runs/frosty_cat?wsid=/subscriptions/s/resourcegroups/rg/workspaces/ws&amp;tid=t",
        "https://stamlbot.blob.core.windows.net/azureml/outputs/model.pkl (no token)",
        "The bot's Azure identity is not allowed to do `Microsoft.Storage/storageAccounts/listKeys/action`.",
        "Authorization failed: AuthorizationFailed. Use a Bearer token, a SAS token or an account key.",
        "SharedAccessKeyName=RootManageSharedAccessKey; dedupe_key=job:frosty_cat; pad_token=<pad>",
        "exit code=1, signal=None, tokens=512, secret_name=storage-key, password_policy=strict",
        "Set AMLBOT_SLACK_BOT_TOKEN to the bot's xoxb- token and AMLBOT_SLACK_SIGNING_SECRET to its secret.",
        "loss 0.2047 · acc 94.13% · 1 h 3 min · :white_check_mark: Completed",
        "",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_custom_mask() -> None:
    assert redact(f"AccountKey={ACCOUNT_KEY} {BOT_TOKEN}", mask="<hidden>") == "AccountKey=<hidden> xoxb-<hidden>"


def test_a_large_log_and_pathological_inputs_are_handled() -> None:
    big = JOB_LOG * 2000 + f"AccountKey={ACCOUNT_KEY}\n"  # ~2.6 MB, the size of a log tail download
    cleaned = redact(big)
    assert ACCOUNT_KEY not in cleaned and cleaned.startswith(JOB_LOG)
    # One huge run, one huge identifier followed by "=": a backtracking pattern would hang here (pytest-timeout).
    for text in ("A" * 500_000, "a_" * 250_000 + "=1", '"' * 200_000 + ":"):
        assert len(redact(text)) > 0
