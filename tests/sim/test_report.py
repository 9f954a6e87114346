"""The run report: validated records, well-formed escaped SVG, a self-contained page, and a real render in Chromium."""

from __future__ import annotations

import math
import os
import random
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from omega_actors.sim.browser import (
    check_in_browser,
    find_chromium,
    plots_in,
    png_summary,
)
from omega_actors.sim.report import (
    PULL_CAP_BYTES,
    PUSH_CAP_BYTES,
    RunRecord,
    nice_ticks,
    percentile,
    render_html,
    write_report,
)

PLOT_IDS = ("plot-quality", "plot-latency", "plot-bytes", "plot-timeline")
HOSTILE = "<script>alert(1)</script>"
EMPTY = RunRecord(title="empty run", summary=(), quality=(), latency_ms=(), push_bytes=(), pull_bytes=(), events=())


def realistic_record(title: str = "omega_actors demo: 300 TVs, 3 days") -> RunRecord:
    rng = random.Random(7)
    quality = tuple(
        (day / 4, {"federated": 0.1 + 0.12 * (1 - math.exp(-day / 5)), "local": 0.09 + 0.004 * day, "popularity": 0.12 + rng.gauss(0, 0.005)})
        for day in range(13)
    )
    kinds = ("fault", "restart", "offline", "online")
    return RunRecord(
        title=title,
        summary=(("TVs", "300"), ("simulated days", "3"), ("recommendations", "41 210")),
        quality=quality,
        latency_ms=tuple(rng.lognormvariate(1.2, 0.5) for _ in range(3000)),
        push_bytes=tuple(max(40, int(rng.gauss(700, 150))) for _ in range(600)),
        pull_bytes=tuple(max(40, int(rng.gauss(2500, 900))) for _ in range(600)),
        events=tuple((rng.uniform(0, 3), rng.choice(kinds), f"tv-{rng.randint(0, 299)}") for _ in range(80)),
        notes=("Seeded run (seed 7).",),
    )


def svgs(page: str) -> dict[str, ET.Element]:
    """Every svg fragment of the page, parsed as XML (so it must be well formed), by id."""
    fragments = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    parsed = [ET.fromstring(fragment) for fragment in fragments]
    return {element.get("id", ""): element for element in parsed}


def marks(svg: ET.Element) -> int:
    return int(svg.get("data-points", "-1"))


# --- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": None}, "title must be a str"),
        ({"summary": [("a", "b")]}, "summary must be a tuple; got list"),
        ({"summary": (("TVs", 300),)}, r"summary\[0\] value"),
        ({"quality": ((float("nan"), {"a": 0.1}),)}, r"quality\[0\] day must be a finite number"),
        ({"quality": ((1.0, {"a": float("inf")}),)}, r"quality\[0\]\['a'\] must be a finite number"),
        ({"quality": ((1.0, [0.1]),)}, r"quality\[0\] scores must be a dict"),
        ({"latency_ms": (1.0, -2.0)}, r"latency_ms\[1\] must be >= 0"),
        ({"latency_ms": (True,)}, r"latency_ms\[0\] must be a finite number"),
        ({"push_bytes": (10, -1)}, r"push_bytes\[1\] must be a non-negative int"),
        ({"pull_bytes": (1.5,)}, r"pull_bytes\[0\] must be a non-negative int"),
        ({"events": ((1.0, "fault"),)}, r"events\[0\] must have 3 items; got 2"),
        ({"events": ((1.0, "fault", 3),)}, r"events\[0\] detail must be a str"),
        ({"notes": ("ok", b"bytes")}, r"notes\[1\] must be a str"),
    ],
)
def test_a_record_with_a_bad_field_is_rejected_with_a_message_naming_the_field(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(EMPTY, **change)


def test_a_realistic_record_is_accepted_and_frozen() -> None:
    record = realistic_record()
    with pytest.raises(AttributeError):
        record.title = "changed"  # type: ignore[misc]


# --- the pieces ---------------------------------------------------------------------------------------------------


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 0.23) == [0, 0.05, 0.1, 0.15, 0.2, 0.25]
    assert nice_ticks(0, 5120, 4)[-1] >= 5120
    assert len(nice_ticks(3, 3)) >= 2  # a single value still gets an axis


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([7], 99) == 7
    assert percentile(list(range(101)), 99) == 99


# --- the page -----------------------------------------------------------------------------------------------------


def test_every_plot_is_well_formed_svg_with_a_title_and_marks() -> None:
    plots = svgs(render_html(realistic_record()))
    assert set(plots) == set(PLOT_IDS)
    for plot_id, svg in plots.items():
        assert svg.find("title") is not None and svg.find("title").text, plot_id
        assert marks(svg) > 0, plot_id


def test_the_marks_counted_match_the_data() -> None:
    record = realistic_record()
    plots = svgs(render_html(record))
    assert marks(plots["plot-quality"]) == sum(len(scores) for _, scores in record.quality)
    assert marks(plots["plot-timeline"]) == len(record.events)
    bars = [rect for rect in plots["plot-latency"].iter("rect") if rect.find("title") is not None]
    assert marks(plots["plot-latency"]) == len(bars)
    assert sum(int(rect.find("title").text) for rect in bars) == len(record.latency_ms)


def test_the_latency_plot_marks_p50_and_p99_and_the_bytes_plot_draws_both_caps_dashed() -> None:
    plots = svgs(render_html(realistic_record()))
    latency_text = " ".join(text.text or "" for text in plots["plot-latency"].iter("text"))
    assert "p50 " in latency_text and "p99 " in latency_text
    bytes_text = " ".join(text.text or "" for text in plots["plot-bytes"].iter("text"))
    assert f"cap {PUSH_CAP_BYTES} B" in bytes_text and f"cap {PULL_CAP_BYTES} B" in bytes_text
    assert len([line for line in plots["plot-bytes"].iter("line") if line.get("class") == "cap"]) == 2


def test_the_quality_plot_has_a_legend_entry_and_a_line_per_series() -> None:
    quality = svgs(render_html(realistic_record()))["plot-quality"]
    texts = {text.text for text in quality.iter("text")}
    assert {"federated", "local", "popularity"} <= texts
    assert len([line for line in quality.iter("polyline") if line.get("stroke")]) == 3


def test_hostile_text_is_escaped_everywhere() -> None:
    record = replace(
        realistic_record(title=HOSTILE),
        summary=((HOSTILE, HOSTILE),),
        quality=((0.0, {HOSTILE: 0.1}), (1.0, {HOSTILE: 0.2})),
        events=((0.5, HOSTILE, HOSTILE),),
        notes=(HOSTILE,),
    )
    page = render_html(record)
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    svgs(page)  # still well formed


def test_the_page_fetches_nothing() -> None:
    page = render_html(realistic_record()).lower()
    for forbidden in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert forbidden not in page, forbidden


def test_an_empty_record_renders_every_plot_with_a_no_data_message() -> None:
    plots = svgs(render_html(EMPTY))
    assert set(plots) == set(PLOT_IDS)
    for plot_id, svg in plots.items():
        assert marks(svg) == 0, plot_id
        assert "no data" in {text.text for text in svg.iter("text")}, plot_id


def test_single_values_and_zero_latencies_still_render() -> None:
    record = replace(EMPTY, quality=((1.0, {"a": 0.0}),), latency_ms=(0.0, 0.0), push_bytes=(0,), pull_bytes=(9000,), events=((2.0, "fault", "x"),))
    plots = svgs(render_html(record))
    assert all(marks(svg) > 0 for svg in plots.values())
    assert "nan" not in render_html(record).lower()


def test_write_report_creates_the_directory_and_returns_the_page(tmp_path: Path) -> None:
    path = write_report(tmp_path / "runs" / "demo", realistic_record())
    assert path == tmp_path / "runs" / "demo" / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# --- the browser helpers --------------------------------------------------------------------------------------------


def make_png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """An RGB PNG built by hand: filter byte 0 then raw pixels on every row."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_a_uniform_png_is_blank_and_a_varied_one_is_not() -> None:
    blank = png_summary(make_png(64, 32, lambda x, y: (255, 255, 255)))
    assert (blank["width"], blank["height"], blank["non_blank"]) == (64, 32, False)
    varied = png_summary(make_png(64, 32, lambda x, y: ((x * 37) % 256, (y * 91) % 256, (x * y) % 256)))
    assert varied["non_blank"] is True
    with pytest.raises(ValueError, match="not a PNG"):
        png_summary(b"GIF89a")


def test_plots_in_reads_ids_and_data_points_from_a_dom_dump() -> None:
    dom = '<html><body><svg id="plot-a" data-points="3"></svg><svg id="other" data-points="9"></svg><svg id="plot-b"></svg></body></html>'
    assert plots_in(dom) == {"plot-a": 3}


@pytest.mark.slow
def test_a_realistic_report_renders_all_four_plots_in_headless_chromium(tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        reason = "chromium (or chromium-browser, google-chrome) is not on PATH"
        if os.environ.get("OMEGA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and OMEGA_REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)
    seen = check_in_browser(write_report(tmp_path, realistic_record()), chromium)
    assert set(seen["plots"]) == set(PLOT_IDS)
    assert all(points > 0 for points in seen["plots"].values()), seen["plots"]
    assert (seen["width"], seen["height"]) == (1280, 2400)
    assert seen["png_bytes"] > 10_000 and seen["non_blank"], seen
