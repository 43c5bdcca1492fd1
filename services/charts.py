"""A job's metrics as a PNG line chart: one line per metric key over its steps, rendered headless.

matplotlib is imported inside the functions (it costs ~0.3 s and pulls numpy) so `import services` stays
light; the figure is drawn with the Agg canvas and no pyplot, so no display and no global figure state.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.models import MetricPoint

# 8 × 4.5 in at 100 dpi: every chart is exactly this many pixels, whatever it shows.
WIDTH_PX, HEIGHT_PX = 800, 450
DPI = 100
# More lines than this on one chart cannot be told apart; the rest are named under the chart instead.
MAX_SERIES = 8
# Below this many points per line, markers show where each logged value is.
MARKERS_UP_TO = 40

# matplotlib's font and text caches are not thread-safe; deliveries may render from several threads.
_RENDER_LOCK = threading.Lock()

Series = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class MetricsChart:
    """A rendered chart and what it shows (read back from the drawn lines)."""

    png: bytes
    series: dict[str, Series]  # metric key → the (x, y) points of its line, as drawn
    left_out: tuple[str, ...]  # keys not drawn (more than MAX_SERIES)
    x_label: str


def render_metrics_chart(points: Sequence[MetricPoint], *, title: str) -> bytes | None:
    """The PNG (WIDTH_PX × HEIGHT_PX) of `points`; None when there is nothing to plot."""
    chart = plot_metrics(points, title=title)
    return chart.png if chart else None


def plot_metrics(points: Sequence[MetricPoint], *, title: str) -> MetricsChart | None:
    """Draw one line per metric key over step; None when no point has a finite value."""
    by_key = _series_by_key(points)
    if not by_key:
        return None
    # The longest series tell the most; ties keep alphabetical order, so a chart is reproducible.
    ranked = sorted(by_key, key=lambda key: (-len(by_key[key]), key))
    shown = sorted(ranked[:MAX_SERIES])
    left_out = tuple(sorted(ranked[MAX_SERIES:]))
    # MLflow logs step 0 when the job gave none: then the order of logging is the only axis there is.
    by_order = all(len({p.step for p in by_key[key]}) == 1 for key in shown) and any(
        len(by_key[key]) > 1 for key in shown
    )
    x_label = "logging order" if by_order else "step"
    lines = {
        key: tuple(
            (float(i if by_order else p.step), p.value) for i, p in enumerate(by_key[key])
        )
        for key in shown
    }
    with _RENDER_LOCK:
        png, drawn = _draw(lines, title=title, x_label=x_label, left_out=left_out)
    return MetricsChart(png=png, series=drawn, left_out=left_out, x_label=x_label)


def _series_by_key(points: Sequence[MetricPoint]) -> dict[str, list[MetricPoint]]:
    """Finite points per key, in step order (then logging time)."""
    by_key: dict[str, list[MetricPoint]] = {}
    for point in points:
        if math.isfinite(point.value):  # NaN and inf would wreck the axis scale
            by_key.setdefault(point.key, []).append(point)
    oldest = datetime.min.replace(tzinfo=UTC)
    for series in by_key.values():
        series.sort(key=lambda p: (p.step, p.timestamp or oldest))
    return by_key


def _draw(
    lines: dict[str, Series], *, title: str, x_label: str, left_out: tuple[str, ...]
) -> tuple[bytes, dict[str, Series]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)  # Agg, chosen explicitly: renders to memory, never to a display
    axes = figure.add_subplot()
    for key, points in lines.items():
        xs, ys = [x for x, _ in points], [y for _, y in points]
        line = axes.plot(xs, ys, marker="o" if len(points) <= MARKERS_UP_TO else None, markersize=3)[0]
        line.set_gid(key)  # the key itself; the legend label adds the last value
        line.set_label(f"{_shorten(key)} = {ys[-1]:.4g}")
    axes.set_title(_shorten(title, 90))
    axes.set_xlabel(x_label)
    axes.set_ylabel("value")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    if left_out:
        names = ", ".join(left_out)
        figure.text(0.01, 0.01, _shorten(f"Not drawn ({len(left_out)}): {names}", 140), fontsize="x-small")
    figure.tight_layout(rect=(0, 0.03 if left_out else 0, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)  # no bbox_inches="tight": the pixel size stays fixed
    return buffer.getvalue(), _drawn_series(axes)


def _drawn_series(axes: Any) -> dict[str, Series]:
    """What the axes actually hold, per metric key."""
    return {
        str(line.get_gid()): tuple(
            (float(x), float(y)) for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
        )
        for line in axes.get_lines()
    }


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
