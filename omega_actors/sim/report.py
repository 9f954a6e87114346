"""A self-contained HTML report of one simulated run, with hand-drawn SVG plots.

Usage::

    record = RunRecord(
        title="omega_actors demo: 300 TVs, 3 days",
        summary=(("TVs", "300"), ("recommendations", "41 210")),
        quality=((0.5, {"federated": 0.21, "popularity": 0.12}), ...),
        latency_ms=(3.1, 2.7, ...), push_bytes=(812, ...), pull_bytes=(2210, ...),
        events=((1.25, "fault", "tv-17 crashed"), (1.26, "restart", "tv-17")),
    )
    path = write_report("runs/demo", record)  # runs/demo/report.html

The page has four plots: quality over simulated time, the recommend latency
histogram (p50 and p99 marked), push and pull frame sizes against their caps,
and a timeline of events with one row per kind.

Why by hand: the page must open from a disk or a CI artifact with no network
and no new dependency, so it has no script, no linked stylesheet or font and
no plotting library; every plot is an inline ``<svg>`` built from strings
here, and every piece of text from the record goes through :func:`html.escape`.
Each svg carries ``id="plot-..."`` and ``data-points="N"`` (the number of marks
drawn: points, non-empty bars, events), so a test can tell a plot that really
rendered from an empty frame. Empty inputs draw a "no data" message instead.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

PUSH_CAP_BYTES = 1024
PULL_CAP_BYTES = 5120
WIDTH = 760
HEIGHT = 300
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
KIND_COLOURS = {"fault": "#d62728", "restart": "#ff7f0e", "offline": "#7f7f7f", "online": "#2ca02c"}
HISTOGRAM_BINS = 30


# --- the record and its validation -------------------------------------------------------------------------------


def _tuple(name: str, value: object) -> tuple:
    if not isinstance(value, tuple):
        raise ValueError(f"{name} must be a tuple; got {type(value).__name__}")
    return value


def _text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str; got {type(value).__name__}")


def _finite(name: str, value: object) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")


def _pair(name: str, value: object, size: int) -> tuple:
    if len(_tuple(name, value)) != size:
        raise ValueError(f"{name} must have {size} items; got {len(value)}")  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


def _check_summary(summary: object) -> None:
    for i, row in enumerate(_tuple("summary", summary)):
        label, value = _pair(f"summary[{i}]", row, 2)
        _text(f"summary[{i}] label", label)
        _text(f"summary[{i}] value (format it first)", value)


def _check_quality(quality: object) -> None:
    for i, sample in enumerate(_tuple("quality", quality)):
        day, scores = _pair(f"quality[{i}]", sample, 2)
        _finite(f"quality[{i}] day", day)
        if not isinstance(scores, dict):
            raise ValueError(f"quality[{i}] scores must be a dict of series name to score; got {type(scores).__name__}")
        for key, score in scores.items():
            _text(f"quality[{i}] series name", key)
            _finite(f"quality[{i}][{key!r}]", score)


def _check_latencies(latency_ms: object) -> None:
    for i, value in enumerate(_tuple("latency_ms", latency_ms)):
        _finite(f"latency_ms[{i}]", value)
        if value < 0:
            raise ValueError(f"latency_ms[{i}] must be >= 0; got {value!r}")


def _check_sizes(name: str, sizes: object) -> None:
    for i, value in enumerate(_tuple(name, sizes)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}[{i}] must be a non-negative int (bytes); got {value!r}")


def _check_events(events: object) -> None:
    for i, event in enumerate(_tuple("events", events)):
        day, kind, detail = _pair(f"events[{i}]", event, 3)
        _finite(f"events[{i}] day", day)
        _text(f"events[{i}] kind", kind)
        _text(f"events[{i}] detail", detail)


@dataclass(frozen=True)
class RunRecord:
    """Everything a run report shows; validated at construction (ValueError says which field and why)."""

    title: str
    summary: tuple[tuple[str, str], ...]
    quality: tuple[tuple[float, dict[str, float]], ...]
    latency_ms: tuple[float, ...]
    push_bytes: tuple[int, ...]
    pull_bytes: tuple[int, ...]
    events: tuple[tuple[float, str, str], ...]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _text("title", self.title)
        _check_summary(self.summary)
        _check_quality(self.quality)
        _check_latencies(self.latency_ms)
        _check_sizes("push_bytes", self.push_bytes)
        _check_sizes("pull_bytes", self.pull_bytes)
        _check_events(self.events)
        for i, note in enumerate(_tuple("notes", self.notes)):
            _text(f"notes[{i}]", note)


# --- geometry: frames, ticks, axes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """A plot area in pixels (left, top, right, bottom) and the data range it shows."""

    left: float
    top: float
    right: float
    bottom: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def x(self, value: float) -> float:
        lo, hi = self.x_range
        return self.left + (value - lo) / (hi - lo) * (self.right - self.left)

    def y(self, value: float) -> float:
        lo, hi = self.y_range
        return self.bottom - (value - lo) / (hi - lo) * (self.bottom - self.top)


def _span(lo: float, hi: float) -> tuple[float, float]:
    """Widen a degenerate range so a single value still gets an axis."""
    if hi > lo:
        return lo, hi
    pad = abs(lo) * 0.1 or 1.0
    return lo - pad, hi + pad


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) that cover [lo, hi]."""
    lo, hi = _span(lo, hi)
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """log10 positions of 1-2-5 values inside [lo, hi] (log10 units); only powers of ten past four decades."""
    multiples = (1,) if hi - lo > 4 else (1, 2, 5)
    decades = range(math.floor(lo), math.ceil(hi) + 1)
    return [math.log10(m * 10.0**d) for d in decades for m in multiples if lo <= math.log10(m * 10.0**d) <= hi]


def fmt(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.4g}k"
    return f"{value:.4g}"


def _axes(frame: _Frame, x_ticks: Sequence[float], y_ticks: Sequence[float], titles: tuple[str, str], x_label: Callable[[float], str] = fmt) -> str:
    """Grid, axis lines, tick labels and axis titles for one frame."""
    parts = [f'<rect x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.right - frame.left:.1f}" height="{frame.bottom - frame.top:.1f}" class="area"/>']
    for t in x_ticks:
        x = frame.x(t)
        parts.append(f'<line x1="{x:.1f}" y1="{frame.bottom:.1f}" x2="{x:.1f}" y2="{frame.bottom + 4:.1f}" class="axis"/>')
        parts.append(f'<text x="{x:.1f}" y="{frame.bottom + 16:.1f}" text-anchor="middle">{escape(x_label(t))}</text>')
    for t in y_ticks:
        y = frame.y(t)
        parts.append(f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.right:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{frame.left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(t))}</text>')
    parts.append(f'<polyline points="{frame.left:.1f},{frame.top:.1f} {frame.left:.1f},{frame.bottom:.1f} {frame.right:.1f},{frame.bottom:.1f}" class="axis"/>')
    x_title, y_title = titles
    middle_x, middle_y = (frame.left + frame.right) / 2, (frame.top + frame.bottom) / 2
    parts.append(f'<text x="{middle_x:.1f}" y="{frame.bottom + 34:.1f}" text-anchor="middle" class="title">{escape(x_title)}</text>')
    if y_title:
        parts.append(f'<text transform="translate({frame.left - 46:.1f},{middle_y:.1f}) rotate(-90)" text-anchor="middle" class="title">{escape(y_title)}</text>')
    return "".join(parts)


def _legend(entries: Iterable[tuple[str, str]], x: float, y: float) -> str:
    """A column of colour swatches and labels, top-left at (x, y)."""
    parts = []
    for i, (label, colour) in enumerate(entries):
        row = y + i * 18
        parts.append(f'<rect x="{x:.1f}" y="{row:.1f}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18:.1f}" y="{row + 10:.1f}">{escape(_clip(label))}</text>')
    return "".join(parts)


def _clip(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def _svg(plot_id: str, title: str, points: int, body: str, height: int = HEIGHT) -> str:
    return (
        f'<svg id="{plot_id}" data-points="{points}" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="{plot_id}-title"><title id="{plot_id}-title">{escape(title)}</title>{body}</svg>'
    )


def _no_data(x: float, y: float, message: str = "no data") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" class="empty">{escape(message)}</text>'


# --- the four plots ------------------------------------------------------------------------------------------------


def quality_svg(quality: Sequence[tuple[float, dict[str, float]]]) -> str:
    """One polyline with points per series key, over simulated days."""
    title = "Recommendation quality over simulated time, one line per series"
    keys = list(dict.fromkeys(key for _, scores in quality for key in scores))
    if not keys:
        return _svg("plot-quality", title, 0, _no_data(WIDTH / 2, HEIGHT / 2))
    days = [day for day, _ in quality]
    values = [score for _, scores in quality for score in scores.values()]
    x_ticks, y_ticks = nice_ticks(min(days), max(days)), nice_ticks(min(0.0, min(values)), max(values))
    frame = _Frame(64, 20, WIDTH - 170, HEIGHT - 50, (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1]))
    parts = [_axes(frame, x_ticks, y_ticks, ("simulated day", "quality"))]
    colours = {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}
    drawn = 0
    for key in keys:
        series = sorted((day, scores[key]) for day, scores in quality if key in scores)
        parts.append(_series(frame, key, series, colours[key]))
        drawn += len(series)
    parts.append(_legend(((key, colours[key]) for key in keys), WIDTH - 150, 24))
    return _svg("plot-quality", title, drawn, "".join(parts))


def _series(frame: _Frame, key: str, series: Sequence[tuple[float, float]], colour: str) -> str:
    coords = [(frame.x(day), frame.y(score)) for day, score in series]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts = [f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>']
    for (x, y), (day, score) in zip(coords, series):
        tip = escape(f"day {day:.2f}: {key} {score:.4g}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{tip}</title></circle>')
    return "".join(parts)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def histogram(values: Sequence[float], lo: float, hi: float, bins: int = HISTOGRAM_BINS) -> list[int]:
    """Counts of values in ``bins`` equal bins over [lo, hi]; values outside land in the end bins."""
    counts = [0] * bins
    width = (hi - lo) / bins
    for value in values:
        counts[min(bins - 1, max(0, int((value - lo) / width)))] += 1
    return counts


def _bars(frame: _Frame, counts: Sequence[int], lo: float, hi: float, colour: str) -> tuple[str, int]:
    """Bars for the non-empty bins and how many there are."""
    width = (hi - lo) / len(counts)
    parts = []
    for i, count in enumerate(counts):
        if count:
            # At least 1 px tall: a bin of one outlier must stay visible next to a bin of thousands.
            x0, x1, y = frame.x(lo + i * width), frame.x(lo + (i + 1) * width), min(frame.y(count), frame.bottom - 1)
            parts.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" height="{frame.bottom - y:.1f}" fill="{colour}"><title>{count}</title></rect>')
    return "".join(parts), len(parts)


def latency_svg(latency_ms: Sequence[float]) -> str:
    """A histogram of recommend latencies, on a log axis when they span more than 20x; p50 and p99 marked."""
    title = "Recommend latency histogram in milliseconds, with p50 and p99 marked"
    if not latency_ms:
        return _svg("plot-latency", title, 0, _no_data(WIDTH / 2, HEIGHT / 2))
    log = min(latency_ms) > 0 and max(latency_ms) / min(latency_ms) > 20
    scale: Callable[[float], float] = math.log10 if log else float
    scaled = [scale(v) for v in latency_ms]
    lo, hi = _span(min(scaled), max(scaled))
    x_ticks = _log_ticks(lo, hi) if log else nice_ticks(lo, hi)
    if not log:
        lo, hi = x_ticks[0], x_ticks[-1]
    counts = histogram(scaled, lo, hi)
    y_ticks = nice_ticks(0, max(counts))
    frame = _Frame(64, 20, WIDTH - 24, HEIGHT - 50, (lo, hi), (0, y_ticks[-1]))
    x_label: Callable[[float], str] = (lambda t: fmt(10**t)) if log else fmt
    axis_title = "latency (ms, log scale)" if log else "latency (ms)"
    bars, drawn = _bars(frame, counts, lo, hi, PALETTE[0])
    p50, p99 = percentile(latency_ms, 50), percentile(latency_ms, 99)
    marks = [_vline(frame, scale(p50), f"p50 {fmt(p50)} ms", "mark", True), _vline(frame, scale(p99), f"p99 {fmt(p99)} ms", "mark", False)]
    return _svg("plot-latency", title, drawn, _axes(frame, x_ticks, y_ticks, (axis_title, "recommendations"), x_label) + bars + "".join(marks))


def _vline(frame: _Frame, at: float, label: str, css_class: str, label_left: bool) -> str:
    """A vertical line at ``at``, labelled on one side and at its own height so p50 and p99 labels do not collide."""
    x = frame.x(at)
    anchor, dx, dy = ("end", -4, 12) if label_left else ("start", 4, 26)
    return (
        f'<line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{frame.bottom:.1f}" class="{css_class}"/>'
        f'<text x="{x + dx:.1f}" y="{frame.top + dy:.1f}" text-anchor="{anchor}" class="mark-label">{escape(label)}</text>'
    )


def bytes_svg(push_bytes: Sequence[int], pull_bytes: Sequence[int]) -> str:
    """Side-by-side histograms of push and pull frame sizes, each with its cap as a dashed line."""
    title = f"Bytes per sync: push frame sizes (cap {PUSH_CAP_BYTES} B) and pull reply sizes (cap {PULL_CAP_BYTES} B)"
    push, push_drawn = _size_panel(push_bytes, PUSH_CAP_BYTES, "push", PALETTE[0], 0.0)
    pull, pull_drawn = _size_panel(pull_bytes, PULL_CAP_BYTES, "pull", PALETTE[2], WIDTH / 2)
    return _svg("plot-bytes", title, push_drawn + pull_drawn, push + pull)


def _size_panel(sizes: Sequence[int], cap: int, name: str, colour: str, offset: float) -> tuple[str, int]:
    left, right = offset + 64, offset + WIDTH / 2 - 20
    over = sum(1 for size in sizes if size > cap)
    heading = f"{name}: {len(sizes)} frames, {over} over cap"
    head = f'<text x="{(left + right) / 2:.1f}" y="14" text-anchor="middle" class="title" style="fill:{colour}">{escape(heading)}</text>'
    if not sizes:
        return head + _no_data((left + right) / 2, HEIGHT / 2), 0
    x_ticks = nice_ticks(0, max(max(sizes), cap), 4)
    counts = histogram(sizes, x_ticks[0], x_ticks[-1])
    y_ticks = nice_ticks(0, max(counts))
    frame = _Frame(left, 24, right, HEIGHT - 50, (x_ticks[0], x_ticks[-1]), (0, y_ticks[-1]))
    bars, drawn = _bars(frame, counts, x_ticks[0], x_ticks[-1], colour)
    cap_line = _vline(frame, cap, f"cap {cap} B", "cap", label_left=True)
    return head + _axes(frame, x_ticks, y_ticks, (f"{name} size (bytes)", "frames")) + bars + cap_line, drawn


def _kinds(events: Sequence[tuple[float, str, str]]) -> list[str]:
    """Known kinds in their usual order, then any others alphabetically."""
    present = {kind for _, kind, _ in events}
    return [kind for kind in KIND_COLOURS if kind in present] + sorted(present - KIND_COLOURS.keys())


def timeline_svg(events: Sequence[tuple[float, str, str]]) -> str:
    """Events as markers on a day axis, one row per kind, coloured per kind."""
    title = "Timeline of faults, restarts and other events over simulated days, one row per kind"
    if not events:
        return _svg("plot-timeline", title, 0, _no_data(WIDTH / 2, 50), height=100)
    kinds = _kinds(events)
    height = 20 + 30 * len(kinds) + 50
    days = [day for day, _, _ in events]
    x_ticks = nice_ticks(min(days), max(days))
    frame = _Frame(150, 20, WIDTH - 24, height - 50, (x_ticks[0], x_ticks[-1]), (0, len(kinds)))
    colours = {kind: KIND_COLOURS.get(kind, PALETTE[(4 + i) % len(PALETTE)]) for i, kind in enumerate(kinds)}
    rows = {kind: frame.y(len(kinds) - row - 0.5) for row, kind in enumerate(kinds)}
    parts = [_axes(frame, x_ticks, [], ("simulated day", ""))]
    for kind, y in rows.items():
        count = sum(1 for _, k, _ in events if k == kind)
        parts.append(f'<text x="{frame.left - 8:.1f}" y="{y + 4:.1f}" text-anchor="end" style="fill:{colours[kind]}">{escape(_clip(kind, 14))} ({count})</text>')
        parts.append(f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.right:.1f}" y2="{y:.1f}" class="grid"/>')
    for day, kind, detail in sorted(events):
        tip = escape(f"day {day:.2f}: {kind}: {detail}")
        parts.append(f'<circle cx="{frame.x(day):.1f}" cy="{rows[kind]:.1f}" r="5" fill="{colours[kind]}" class="event"><title>{tip}</title></circle>')
    return _svg("plot-timeline", title, len(events), "".join(parts), height=height)


# --- the page ------------------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 800px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 3px 12px 3px 0; text-align: left; vertical-align: top; }
table.summary td:first-child { color: #555; } table.events { font-size: 0.9em; }
svg { display: block; background: #fff; }
svg text { font: 11px sans-serif; fill: #333; } svg text.title { font-size: 12px; font-weight: bold; }
svg text.empty { font-size: 16px; fill: #999; } svg text.mark-label { font-size: 11px; font-weight: bold; }
svg .area { fill: #fafafa; } svg .axis { stroke: #333; fill: none; } svg .grid { stroke: #e4e4e4; }
svg .mark { stroke: #000; stroke-dasharray: 2 2; } svg .cap { stroke: #d62728; stroke-width: 1.5; stroke-dasharray: 6 4; }
svg .event { fill-opacity: 0.75; }
"""


def _rows(rows: Iterable[Sequence[str]], css_class: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css_class}">{body}</table>'


def render_html(record: RunRecord) -> str:
    """The whole page as one string: inline CSS, inline SVG, nothing fetched."""
    events = [(f"{day:.2f}", kind, detail) for day, kind, detail in sorted(record.events)]
    sections = (
        ("Recommendation quality", quality_svg(record.quality)),
        ("Recommend latency", latency_svg(record.latency_ms)),
        ("Bytes per sync", bytes_svg(record.push_bytes, record.pull_bytes)),
        ("Faults, restarts and connectivity", timeline_svg(record.events)),
    )
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(record.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{escape(record.title)}</h1>",
            *(f"<p>{escape(note)}</p>" for note in record.notes),
            _rows(record.summary, "summary"),
            *(f"<section><h2>{escape(heading)}</h2>{svg}</section>" for heading, svg in sections),
            f"<details><summary>All {len(events)} events</summary>{_rows(events, 'events')}</details>",
            "</body></html>\n",
        ]
    )


def write_report(directory: str | Path, record: RunRecord) -> Path:
    """Write directory/report.html (creating the directory) and return its path."""
    path = Path(directory) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(record), encoding="utf-8")
    return path
