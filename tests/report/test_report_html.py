"""HTML report: self-contained, readable, robust to missing snapshots and empty traces."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image

from cctrace.report import render_html, write_html, write_report
from cctrace.report.snapshots import MAX_WIDTH
from cctrace.tracing.result import TraceResult


class Collector(HTMLParser):
    """Tags, attributes and text of a page, checking that tags nest properly."""

    VOID: ClassVar[frozenset[str]] = frozenset(
        {"meta", "img", "br", "hr", "input", "link", "source", "wbr"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def parse(html: str) -> Collector:
    c = Collector()
    c.feed(html)
    c.close()
    assert not c.errors, c.errors[:5]
    assert c.stack == [], c.stack
    return c


def test_report_content(tmp_path: Path, trace: TraceResult) -> None:
    path = write_html(trace, tmp_path / "r" / "report.html")
    html = path.read_text("utf-8")
    page = parse(html)
    text = " ".join(page.text)
    assert "C-2024-0193" in text
    assert "j.okafor (investigator)" in text
    assert "2024-05-03 14:02:40 UTC" in text  # generated
    assert "within 2 m for 15 min or more" in text
    assert html.count("<svg") == 2  # timeline and site plan
    # Contacts: one main row per person, one nested row per encounter.
    assert len(re.findall(r'<tr class="contact', html)) == 3
    assert text.count("Close contact") >= 2 and "Below threshold" in text
    for camera in ("Main entrance", "Atrium", "Food court"):
        assert camera in text
    assert "17 min 20 s" in text and "0.62 m" in text
    assert "every other face in snapshots is blurred" in text
    assert "Food court camera distances come from person height" in text


def test_report_is_self_contained(trace: TraceResult) -> None:
    html = render_html(trace)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower()
    page = parse(html)
    srcs = [a.get("src") or "" for tag, a in page.tags if tag == "img"]
    assert srcs and all(s.startswith("data:image/jpeg;base64,") for s in srcs)
    for tag, attrs in page.tags:
        for name in ("href", "src"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, name, value[:40])
    for url in re.findall(r"url\(([^)]*)\)", html):
        assert url.startswith("#"), url


def test_snapshots_are_downscaled_jpegs(trace: TraceResult) -> None:
    html = render_html(trace)
    uris = set(re.findall(r'src="data:image/jpeg;base64,([^"]+)"', html))
    assert len(uris) == 5  # 3 sighting snapshots (one reused) + 2 contact snapshots
    for payload in uris:
        img = Image.open(io.BytesIO(base64.b64decode(payload)))
        assert img.format == "JPEG"
        assert img.width <= MAX_WIDTH
    assert len(html) < 600_000


def test_empty_trace_says_so(tmp_path: Path, empty: TraceResult) -> None:
    html = write_html(empty, tmp_path / "empty.html").read_text("utf-8")
    text = " ".join(parse(html).text)
    assert "No sightings" in text
    assert "No contacts" in text
    assert "No sightings or encounters to show" in text
    assert "C-2024-0193" in text


def test_missing_snapshot_shows_a_placeholder(trace_missing_snapshot: TraceResult) -> None:
    html = render_html(trace_missing_snapshot)
    text = " ".join(parse(html).text)
    assert "no snapshot" in text
    assert "1 snapshot file(s) could not be read" in text


def test_unreadable_snapshot_shows_a_placeholder(tmp_path: Path, trace: TraceResult) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    sightings = tuple(replace(s, snapshot_path=str(broken)) for s in trace.sightings)
    html = render_html(replace(trace, sightings=sightings))
    assert "no snapshot" in html


def test_relative_snapshot_paths_resolve_against_snapshot_dir(
    tmp_path: Path, trace: TraceResult, snapshots: list[Path]
) -> None:
    base = snapshots[0].parent
    sightings = tuple(
        replace(s, snapshot_path=Path(s.snapshot_path).name) if s.snapshot_path else s
        for s in trace.sightings
    )
    result = replace(trace, sightings=sightings, contacts=())
    assert "no snapshot</div>" in render_html(result, snapshot_dir=tmp_path / "elsewhere")
    html = render_html(result, snapshot_dir=base)
    assert html.count("data:image/jpeg;base64,") == 4  # every sighting with a path


@pytest.mark.parametrize(
    "case_id", ["<script>alert(1)</script>", 'C-1" onload="x', "Fall & Co. <ä>"]
)
def test_text_is_escaped(trace: TraceResult, case_id: str) -> None:
    result = replace(trace, query=replace(trace.query, case_id=case_id))
    html = render_html(result)
    assert case_id not in html
    assert "<script" not in html
    assert case_id in " ".join(parse(html).text)


def test_plan_and_timeline_without_positions(trace: TraceResult) -> None:
    from cctrace.tracing.result import CameraInfo

    cams = tuple(CameraInfo(c.camera_id, c.name, None, None, None, None) for c in trace.cameras)
    html = render_html(replace(trace, cameras=cams))
    # Paths in site metres still draw a plan, without camera markers.
    assert html.count("<svg") == 2
    assert 'class="cam' not in html


@pytest.mark.parametrize(
    ("case_id", "stem"), [("C-2024-0193", "C-2024-0193"), ("../x/y z", "x_y_z"), ("..", "case")]
)
def test_write_report_writes_every_format(
    tmp_path: Path, trace: TraceResult, case_id: str, stem: str
) -> None:
    result = replace(trace, query=replace(trace.query, case_id=case_id))
    paths = write_report(result, tmp_path / "out")
    files = [
        paths.json,
        paths.geojson,
        paths.html,
        paths.sightings_csv,
        paths.contacts_csv,
        paths.contact_persons_csv,
    ]
    for f in files:
        assert f.is_file() and f.stat().st_size > 0
        assert f.parent == tmp_path / "out"
        assert f.name.startswith(stem)
    assert len({f.name for f in files}) == 6


def test_non_finite_numbers_do_not_break_any_format(tmp_path: Path, trace: TraceResult) -> None:
    nan = float("nan")
    sightings = (replace(trace.sightings[0], score=nan), *trace.sightings[1:])
    contacts = (replace(trace.contacts[0], min_distance_m=float("inf")), *trace.contacts[1:])
    paths = write_report(replace(trace, sightings=sightings, contacts=contacts), tmp_path)
    for path in (paths.json, paths.geojson):
        assert "NaN" not in path.read_text("utf-8")
    html = re.sub(r"data:image/jpeg;base64,[^\"]+", "", paths.html.read_text("utf-8"))
    assert not re.search(r"\b(nan|inf)\b", html, flags=re.IGNORECASE)
