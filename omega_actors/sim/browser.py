"""Open a report in headless Chromium and say what really rendered.

Use::

    chromium = find_chromium()
    if chromium:
        seen = check_in_browser(Path("runs/demo/report.html"), chromium)
        seen["plots"]          # {"plot-quality": 42, "plot-latency": 27, ...}: svg id -> data-points
        seen["png_bytes"], seen["non_blank"]

Why a browser: an svg that parses as XML can still draw nothing (a NaN
coordinate, a zero-size viewBox). Chromium's ``--dump-dom`` gives the DOM after
parsing, and ``--screenshot`` the pixels; both run with a throwaway
``--user-data-dir`` so a run leaves no profile behind and never reuses one.

Blankness is judged from the PNG's decompressed scanlines without undoing
the PNG filters (which would mean a slow per-byte loop in Python): a uniform
image filters to a handful of distinct byte values whatever the filter, while
text, lines and bars produce many. :func:`png_summary` is that check.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu")
WINDOW = "1280,2400"
TIMEOUT_SECONDS = 90.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A blank page (one colour) yields fewer than ten distinct filtered bytes; anti-aliased text yields well over a hundred.
NON_BLANK_DISTINCT_BYTES = 32


def find_chromium() -> str | None:
    """The first of chromium, chromium-browser, google-chrome found on PATH, or None."""
    return next((path for path in map(shutil.which, CANDIDATES) if path), None)


class _PlotFinder(HTMLParser):
    """Collects ``id -> data-points`` for every ``<svg id="plot-...">`` in a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        plot_id, points = found.get("id") or "", found.get("data-points")
        if tag == "svg" and plot_id.startswith("plot-") and points is not None and points.isdigit():
            self.plots[plot_id] = int(points)


def plots_in(dom: str) -> dict[str, int]:
    finder = _PlotFinder()
    finder.feed(dom)
    finder.close()
    return finder.plots


def png_summary(data: bytes) -> dict[str, int | bool]:
    """Width, height and distinct filtered-byte count of a PNG, and whether it is non-blank."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG: the 8-byte signature is missing")
    width = height = 0
    idat = bytearray()
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length  # length, type, body, CRC
    distinct = len(set(zlib.decompress(bytes(idat)))) if idat else 0
    return {"width": width, "height": height, "distinct_bytes": distinct, "non_blank": distinct >= NON_BLANK_DISTINCT_BYTES}


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{chromium} did not finish within {TIMEOUT_SECONDS:.0f} s: {' '.join(command)}") from None
    if done.returncode != 0:
        raise RuntimeError(f"{chromium} exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done


def check_in_browser(path: Path, chromium: str, *, keep_screenshot: Path | None = None) -> dict:
    """Render ``path`` in headless Chromium; return its plots, the DOM size and the screenshot's PNG summary.

    Keys: ``plots`` (svg id -> data-points), ``dom_chars``, ``png_bytes``,
    ``width``, ``height``, ``distinct_bytes``, ``non_blank``. The screenshot is
    copied to ``keep_screenshot`` when given (for a person or a CI artifact).
    Raises RuntimeError when Chromium fails or times out, with its stderr.
    """
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="omega-chromium-") as scratch:
        profile, shot = Path(scratch) / "profile", Path(scratch) / "shot.png"
        dom = _run(chromium, profile, "--dump-dom", url).stdout
        _run(chromium, profile, f"--screenshot={shot}", f"--window-size={WINDOW}", url)
        if not shot.is_file():
            raise RuntimeError(f"{chromium} exited cleanly but wrote no screenshot at {shot}")
        png = shot.read_bytes()
        if keep_screenshot is not None:
            shutil.copyfile(shot, keep_screenshot)
    return {"plots": plots_in(dom), "dom_chars": len(dom), "png_bytes": len(png), **png_summary(png)}
