"""No track survives a hard cut or a recording gap, through the real ingest pipeline.

The clips are made at test time from real frames: PETS S2L1 followed, at a hard cut, by a
CAVIAR shopping-centre clip scaled to the same size; and PETS S2L1 frames fed with a
one-minute jump in their time stamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cctrace.config import load_site
from cctrace.evaluation.pets import write_pets_site
from cctrace.footage.writer import write_video
from cctrace.ingest.camera import CameraProcessor
from cctrace.ingest.models import ModelSet
from cctrace.ingest.runner import ingest_site
from cctrace.store.repository import Store
from cctrace.types import Frame, Tracklet

pytestmark = pytest.mark.slow

FPS = 7
BEFORE = 56
"""S2L1 frames before the cut (8 s)."""
AFTER = 56
"""CAVIAR frames after it (every 4th frame of 25 fps: about 7 fps)."""
CAVIAR = "OneLeaveShopReenter2front.mpg"
START = datetime(2009, 1, 1, 12, 34, tzinfo=UTC)


def _frames(path: Path, step: int, count: int) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        kept = 0
        for index, frame in enumerate(container.decode(video=0)):
            if index % step == 0:
                yield frame.to_ndarray(format="bgr24")
                kept += 1
                if kept == count:
                    return


@pytest.fixture(scope="module")
def cut_clip(pets_dir: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    caviar = shared_data / "caviar-front" / CAVIAR
    if not caviar.is_file():
        pytest.skip(f"{caviar} not found")
    first = list(_frames(pets_dir / "view001.mp4", 1, BEFORE))
    height, width = first[0].shape[:2]
    second = [
        cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR)
        for f in _frames(caviar, 4, AFTER)
    ]
    out = tmp_path_factory.mktemp("cut") / "s2l1-then-caviar.mkv"
    return write_video(out, [*first, *second], FPS)


def _spans(start: datetime, end: datetime, last_before: datetime, first_after: datetime) -> bool:
    return start <= last_before and end >= first_after


def test_no_tracklet_spans_a_hard_cut(pets_dir: Path, cut_clip: Path, tmp_path: Path) -> None:
    site_path = write_pets_site(pets_dir, tmp_path, footage=cut_clip)
    summary = ingest_site(load_site(site_path), workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"]
    assert "1 shot cut(s), 0 recording gap(s)" in summary.files[0].note
    site = load_site(site_path, check_files=False)
    with Store.for_site(site) as store:
        records = store.tracklets.in_window(None, None)
    last_before = START + timedelta(seconds=(BEFORE - 1) / FPS)
    first_after = START + timedelta(seconds=BEFORE / FPS)
    before = [r for r in records if r.end <= last_before]
    assert before, "people of the first clip were tracked"
    crossing = [r for r in records if _spans(r.start, r.end, last_before, first_after)]
    assert crossing == []


def _run(pets_dir: Path, tmp_path: Path, jump_s: float) -> tuple[list[Tracklet], CameraProcessor]:
    site = load_site(write_pets_site(pets_dir, tmp_path))
    processor = CameraProcessor(site.cameras[0], site.ingest, source_fps=FPS)
    models = ModelSet(site.models, threads=1)
    out: list[Tracklet] = []
    for i, image in enumerate(_frames(pets_dir / "view001.mp4", 1, 2 * BEFORE)):
        t = i / FPS + (jump_s if i >= BEFORE else 0.0)
        frame = Frame("view001", i, START + timedelta(seconds=t), t, image)
        out.extend(processor.process(frame, models).tracklets)
    out.extend(processor.finish().tracklets)
    return out, processor


@pytest.mark.parametrize(("jump_s", "gaps"), [(0.0, 0), (60.0, 1)])
def test_recording_gap_ends_every_track(
    pets_dir: Path, tmp_path: Path, jump_s: float, gaps: int
) -> None:
    tracklets, processor = _run(pets_dir, tmp_path, jump_s)
    assert processor.cuts is not None
    assert (processor.cuts.gaps, processor.cuts.cuts) == (gaps, 0)
    last_before = START + timedelta(seconds=(BEFORE - 1) / FPS)
    first_after = START + timedelta(seconds=BEFORE / FPS + jump_s)
    crossing = [
        t
        for t in tracklets
        if _spans(t.points[0].timestamp, t.points[-1].timestamp, last_before, first_after)
    ]
    if gaps:
        assert crossing == []
    else:
        assert crossing, "without a gap, people walking through frame 56 keep their tracks"
