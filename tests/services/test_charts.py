"""A finished job's metrics chart: the PNG itself (services/charts.py), and its way into the job's thread
through the outbox ("job.chart": drawn at delivery from the backend's metrics, uploaded once, retried)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine

import tests.services.store.db_fixtures as db_fixtures
from services.chart_delivery import KIND_CHART, chart_renderers
from services.charts import HEIGHT_PX, MAX_SERIES, WIDTH_PX, plot_metrics, render_metrics_chart
from services.chat import ChatTransientError, RenderedFile, TextRenderer
from services.errors import BackendUnavailable, NotFound
from services.models import JobStatus, MetricPoint
from services.outbox import SENT, Outbox, OutboxDelivery
from services.watch import JobWatcher
from tests.services.store.store_fakes import T0, FakeChat, FakeClock, FakeJobs, drain, make_job

clock = db_fixtures.clock
engine = db_fixtures.engine
jobs = db_fixtures.jobs
make_db_engine = db_fixtures.make_db_engine
outbox = db_fixtures.outbox
watcher = db_fixtures.watcher

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, which must come first after the signature."""
    assert data[:8] == PNG_SIGNATURE, data[:8]
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def points(key: str, values: list[float], *, first_step: int = 1) -> list[MetricPoint]:
    return [
        MetricPoint(key, first_step + i, value, T0 + timedelta(seconds=i)) for i, value in enumerate(values)
    ]


TRAINING = points("loss", [0.9, 0.5, 0.3, 0.2]) + points("accuracy", [0.6, 0.8, 0.85, 0.9])


# ------------------------------------------------------------------------------------------------ the picture


def test_the_chart_is_a_png_of_the_announced_size() -> None:
    png = render_metrics_chart(TRAINING, title="train-tiny-0123456789")
    assert png is not None
    assert png_size(png) == (WIDTH_PX, HEIGHT_PX) == (800, 450)


def test_each_metric_is_one_line_through_its_own_points_in_step_order() -> None:
    shuffled = list(reversed(TRAINING))
    chart = plot_metrics(shuffled, title="t")
    assert chart is not None and chart.x_label == "step" and chart.left_out == ()
    assert chart.series == {
        "accuracy": ((1.0, 0.6), (2.0, 0.8), (3.0, 0.85), (4.0, 0.9)),
        "loss": ((1.0, 0.9), (2.0, 0.5), (3.0, 0.3), (4.0, 0.2)),
    }


def test_different_metrics_draw_different_pictures_and_the_same_ones_the_same() -> None:
    first = render_metrics_chart(TRAINING, title="t")
    assert first == render_metrics_chart(list(TRAINING), title="t")  # a re-delivery draws the very same file
    other = render_metrics_chart(points("loss", [0.9, 0.1, 0.05, 0.01]), title="t")
    assert other is not None and first != other


def test_nothing_to_plot_gives_no_chart() -> None:
    assert render_metrics_chart([], title="t") is None
    not_finite = [MetricPoint("loss", 1, float("nan")), MetricPoint("lr", 1, float("inf"))]
    assert render_metrics_chart(not_finite, title="t") is None


def test_non_finite_values_are_left_out_of_their_line() -> None:
    chart = plot_metrics(points("loss", [0.9, float("nan"), 0.3]), title="t")
    assert chart is not None and chart.series == {"loss": ((1.0, 0.9), (3.0, 0.3))}


def test_past_eight_metrics_the_shortest_are_named_instead_of_drawn() -> None:
    many = [p for n in range(MAX_SERIES + 2) for p in points(f"m{n}", [float(n)] * (n + 1))]
    chart = plot_metrics(many, title="t")
    assert chart is not None
    assert len(chart.series) == MAX_SERIES and chart.left_out == ("m0", "m1")
    assert set(chart.series) == {f"m{n}" for n in range(2, MAX_SERIES + 2)}
    assert png_size(chart.png) == (WIDTH_PX, HEIGHT_PX)


def test_metrics_logged_without_a_step_are_drawn_in_logging_order() -> None:
    stepless = [MetricPoint("loss", 0, v, T0 + timedelta(seconds=i)) for i, v in enumerate([0.7, 0.4, 0.2])]
    chart = plot_metrics(list(reversed(stepless)), title="t")
    assert chart is not None and chart.x_label == "logging order"
    assert chart.series == {"loss": ((0.0, 0.7), (1.0, 0.4), (2.0, 0.2))}


# ------------------------------------------------------------------------------------------------ through the outbox


@dataclass(frozen=True)
class Upload:
    id: str
    channel: str
    thread_ts: str | None
    filename: str
    content: bytes
    title: str | None
    comment: str | None
    alt_text: str | None


class FilingChat(FakeChat):
    """FakeChat that keeps the files it is given, and can lose the answer to an upload that did land."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.files: list[Upload] = []
        self.after_next_upload: BaseException | None = None

    def upload_file(self, channel: str, thread_ts: str | None, filename: str, file: RenderedFile) -> str:
        self._begin("upload", channel)
        upload = Upload(
            f"F{len(self.files) + 1:07d}", channel, thread_ts, filename, file.content, file.title, file.comment,
            file.alt_text,
        )
        self.files.append(upload)
        error, self.after_next_upload = self.after_next_upload, None
        if error is not None:
            raise error
        return upload.id

    def find_uploaded(self, channel: str, filename: str, thread_ts: str | None) -> str | None:
        self._begin("find_uploaded", channel)
        found = [f.id for f in self.files if (f.channel, f.filename, f.thread_ts) == (channel, filename, thread_ts)]
        return found[0] if found else None


@pytest.fixture
def chat(clock: FakeClock) -> FilingChat:
    return FilingChat(clock)


@pytest.fixture
def delivery(engine: Engine, chat: FilingChat, jobs: FakeJobs, clock: FakeClock) -> OutboxDelivery:
    return OutboxDelivery(engine, chat, TextRenderer(), clock, files=chart_renderers(jobs))


def end_job(watcher: JobWatcher, jobs: FakeJobs, clock: FakeClock, name: str, metrics: list[MetricPoint]) -> None:
    """A running job, watched in C1, that completes having logged `metrics`; the sweep records its end."""
    jobs.add(make_job(name, JobStatus.RUNNING, started_at=clock()))
    watcher.watch(None, jobs.get(name), channel="C1", requested_by="U1")
    jobs.metric_points[name] = metrics
    clock.advance(30)
    jobs.set_status(name, JobStatus.COMPLETED)
    assert watcher.sweep().transitions == 1


def chart_row_state(engine: Engine) -> tuple[str, int, str | None]:
    with engine.connect() as conn:
        (row,) = [i for i in Outbox.items(conn) if i.kind == KIND_CHART]
    return row.state, row.attempts, row.last_error


def test_a_job_that_logged_metrics_gets_its_chart_in_the_thread_after_the_summary(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FilingChat, clock: FakeClock
) -> None:
    end_job(watcher, jobs, clock, "train-1", TRAINING)
    drain(engine, delivery, clock)
    (root,) = chat.roots("C1")
    summary = chat.replies(root)[-1]
    assert "accuracy=0.9" in summary.text and "loss=0.2" in summary.text  # the final values, in the summary
    (chart,) = chat.files
    assert (chart.channel, chart.thread_ts, chart.filename) == ("C1", root.ts, "train-1-metrics.png")
    assert png_size(chart.content) == (800, 450)
    # drawn from the job's metrics as the backend gave them at delivery
    assert chart.content == render_metrics_chart(TRAINING, title="train-1 display (train-1)")
    assert chart.comment is not None and "`accuracy`, `loss`" in chart.comment and "train-1" in chart.comment
    assert chart.alt_text is not None and "accuracy, loss" in chart.alt_text
    assert [op for _, op, _ in chat.calls][-2:] == ["post", "upload"]  # the summary first, then the chart
    assert jobs.calls["metrics"] == 2  # once for the summary, once for the chart: the row holds no data


def test_a_job_that_logged_no_metrics_gets_no_chart(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FilingChat, clock: FakeClock
) -> None:
    end_job(watcher, jobs, clock, "hello-1", [])
    drain(engine, delivery, clock)
    assert chat.files == [] and chat.ops("upload") == []
    with engine.connect() as conn:
        assert KIND_CHART not in {i.kind for i in Outbox.items(conn)}
    assert "metrics" not in chat.replies(chat.roots("C1")[0])[-1].text


def test_an_upload_whose_answer_was_lost_is_found_and_not_uploaded_again(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FilingChat, clock: FakeClock
) -> None:
    end_job(watcher, jobs, clock, "train-2", TRAINING)
    chat.after_next_upload = ChatTransientError("read timeout")  # it landed; the bot never heard
    drain(engine, delivery, clock)
    assert len(chat.files) == 1 and len(chat.ops("upload")) == 1
    assert len(chat.ops("find_uploaded")) == 1
    assert chart_row_state(engine)[:2] == (SENT, 2)


def test_a_failed_upload_is_retried_like_a_failed_post(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FilingChat, clock: FakeClock
) -> None:
    end_job(watcher, jobs, clock, "train-3", TRAINING)
    chat.fail_next(ChatTransientError("503 from Slack", maybe_delivered=False), op="upload")
    drain(engine, delivery, clock)
    assert len(chat.files) == 1 and chat.ops("find_uploaded") == []  # it certainly had not landed
    assert chart_row_state(engine)[:2] == (SENT, 2)


def test_metrics_unreadable_at_delivery_are_asked_for_again_later(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FilingChat, clock: FakeClock
) -> None:
    end_job(watcher, jobs, clock, "train-4", TRAINING)
    jobs.fail["metrics"] = BackendUnavailable("mlflow is down")
    for _ in range(5):
        delivery.deliver_due()
        clock.advance(1)
    state, attempts, error = chart_row_state(engine)
    assert state == "pending" and attempts >= 1 and error and "mlflow is down" in error
    assert chat.files == []
    del jobs.fail["metrics"]
    drain(engine, delivery, clock)
    assert [f.filename for f in chat.files] == ["train-4-metrics.png"]


def test_a_job_gone_before_its_chart_is_drawn_ends_its_story_without_one(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, delivery: OutboxDelivery, chat: FilingChat, clock: FakeClock
) -> None:
    end_job(watcher, jobs, clock, "train-5", TRAINING)
    jobs.fail["metrics"] = NotFound("job `train-5` not found")
    drain(engine, delivery, clock)
    assert chat.files == [] and chart_row_state(engine)[0] == SENT


def test_a_delivery_without_chart_renderers_skips_charts_quietly(
    engine: Engine, watcher: JobWatcher, jobs: FakeJobs, chat: FilingChat, clock: FakeClock
) -> None:
    end_job(watcher, jobs, clock, "train-6", TRAINING)
    drain(engine, OutboxDelivery(engine, chat, TextRenderer(), clock), clock)
    assert chat.files == [] and not any("job.chart" in m.text for m in chat.posts())
    assert chart_row_state(engine)[0] == SENT
