"""The "job.services" thread reply: each newly available endpoint as a Slack link."""

from __future__ import annotations

import json

from bot.blocks.renderer import BlockKitRenderer
from services.chat import TextRenderer
from services.models import JobInfo, JobStatus, ServiceEndpoint
from services.transitions import KIND_SERVICES, job_payload, services_payload

JUPYTER_URL = "https://train-1-0.eastus.nbs.azureml.net/lab"
BOARD_URL = "https://train-1-0.eastus.nbs.azureml.net/tensorboard"


def make_job(name: str, status: JobStatus, services: tuple[ServiceEndpoint, ...] = ()) -> JobInfo:
    return JobInfo(name, f"{name} display", status, "cpu", "exp", "me", None, None, None, None, services)


def test_block_kit_lists_the_new_endpoints_as_links() -> None:
    job = make_job("train-1", JobStatus.RUNNING)
    payload = services_payload(
        job,
        [
            ServiceEndpoint("jupyter", "jupyter", JUPYTER_URL, "Running"),
            ServiceEndpoint("board", "tensorboard", BOARD_URL, "Running"),
        ],
    )
    message = BlockKitRenderer().render(KIND_SERVICES, json.loads(json.dumps(payload)))
    assert message.blocks and message.blocks[0]["type"] == "section"
    text = message.blocks[0]["text"]["text"]
    assert f"JupyterLab: <{JUPYTER_URL}|open>" in text and f"TensorBoard: <{BOARD_URL}|open>" in text
    assert "train-1" in text
    assert message.text == "train-1: JupyterLab, TensorBoard available"
    plain = TextRenderer().render(KIND_SERVICES, payload).text
    assert plain == f"train-1: JupyterLab: <{JUPYTER_URL}|open> · TensorBoard: <{BOARD_URL}|open>"


def test_the_root_shows_the_links_too() -> None:
    job = make_job("train-1", JobStatus.RUNNING, services=(ServiceEndpoint("jupyter", "jupyter", JUPYTER_URL),))
    root = BlockKitRenderer().render("job.root", {"job": job_payload(job), "requested_by": "U1", "ended": False})
    assert f"<{JUPYTER_URL}|jupyter>" in json.dumps(root.blocks)
