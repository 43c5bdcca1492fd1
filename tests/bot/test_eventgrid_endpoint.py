"""The Event Grid endpoint: both schemas, both handshakes, a shared secret, Microsoft's sample events."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from bot.events import EventGridEndpoint
from services.eventgrid import RunStatusEvent
from services.models import JobStatus

FIXTURES = Path(__file__).parents[1] / "fixtures" / "eventgrid"
SECRET = "s3cret-code"


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[RunStatusEvent]]]:
    received: list[RunStatusEvent] = []
    server = make_server("127.0.0.1", 0, EventGridEndpoint(SECRET, received.append), handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/events/azureml", received
    server.shutdown()
    server.server_close()


def call(url: str, body: object = None, *, method: str = "POST", headers: dict[str, str] | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def fixture(name: str) -> dict[str, object]:
    return dict(json.loads((FIXTURES / name).read_text()))


def test_event_grid_schema_events_reach_the_sink(endpoint: tuple[str, list[RunStatusEvent]]) -> None:
    url, received = endpoint
    changed = fixture("eventgrid_run_status_changed.json")
    changed["topic"] = (
        "/subscriptions/sub-1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-team"
    )
    status, _, body = call(
        f"{url}?code={SECRET}",
        [changed, fixture("eventgrid_run_completed.json"), fixture("eventgrid_model_registered.json")],
        headers={"aeg-event-type": "Notification", "Content-Type": "application/json"},
    )
    assert status == 200 and json.loads(body) == {"accepted": 2}
    failed, completed = received
    assert failed.job_name == "AutoML_ad912b2d-6467-4f32-a616-dbe4af6dd8fc_5"
    assert failed.status is JobStatus.FAILED  # "failed" in lower case in the sample
    assert failed.event_id == "831e1650-001e-001b-66ab-eeb76e069631"
    assert (failed.scope.subscription_id, failed.scope.resource_group, failed.scope.workspace) == (
        "sub-1",
        "rg-ml",
        "ws-team",
    )
    assert failed.occurred_at is not None and failed.occurred_at.year == 2017
    assert completed.status is JobStatus.COMPLETED


def test_cloudevents_single_and_batch(endpoint: tuple[str, list[RunStatusEvent]]) -> None:
    url, received = endpoint
    single = call(
        f"{url}?code={SECRET}",
        fixture("cloudevents_run_status_changed.json"),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    batch = call(
        f"{url}?code={SECRET}",
        [fixture("cloudevents_run_completed.json")],
        headers={"Content-Type": "application/cloudevents-batch+json"},
    )
    assert single[0] == batch[0] == 200
    assert [e.status for e in received] == [JobStatus.FAILED, JobStatus.COMPLETED]


def test_event_grid_validation_handshake(endpoint: tuple[str, list[RunStatusEvent]]) -> None:
    url, received = endpoint
    validation = [
        {
            "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
            "topic": "/subscriptions/x",
            "subject": "",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2018-01-25T22:12:19.4556811Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        }
    ]
    status, _, body = call(f"{url}?code={SECRET}", validation, headers={"aeg-event-type": "SubscriptionValidation"})
    assert status == 200
    assert json.loads(body) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert received == []


def test_cloudevents_validation_handshake(endpoint: tuple[str, list[RunStatusEvent]]) -> None:
    url, _ = endpoint
    status, headers, _ = call(
        f"{url}?code={SECRET}", method="OPTIONS", headers={"WebHook-Request-Origin": "eventgrid.azure.net"}
    )
    assert status == 200
    assert headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


@pytest.mark.parametrize("query", ["", "?code=wrong", "?code="])
def test_without_the_secret_nothing_is_accepted(endpoint: tuple[str, list[RunStatusEvent]], query: str) -> None:
    url, received = endpoint
    status, _, _ = call(url + query, [fixture("eventgrid_run_completed.json")])
    assert status == 401
    assert received == []


def test_garbage_is_a_400_not_a_crash(endpoint: tuple[str, list[RunStatusEvent]]) -> None:
    url, received = endpoint
    request = urllib.request.Request(f"{url}?code={SECRET}", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    bad_event = {"eventType": "Microsoft.MachineLearningServices.RunCompleted", "id": "1", "data": {}}
    assert call(f"{url}?code={SECRET}", [bad_event])[0] == 400
    assert received == []
