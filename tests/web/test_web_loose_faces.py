"""The case page lists faces seen without a tracked person apart, for review."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from cctrace.store import FootageStatus
from cctrace.types import LooseFace
from tests.store.store_factories import T0
from tests.web.web_support import WebEnv, open_and_trace


def test_a_trace_from_a_tracklet_lists_matching_loose_faces_apart(web: WebEnv) -> None:
    case_tracklet = web.tracklet_ids[0]
    (face, *_) = web.store.faces.embeddings_of([case_tracklet])
    other = np.random.default_rng(11).standard_normal(128).astype(np.float32)
    same = LooseFace(
        camera_id="cam1",
        frame_index=40,
        timestamp=T0 + timedelta(seconds=8),
        xyxy=(300.0, 80.0, 340.0, 130.0),
        score=0.9,
        quality=0.5,
        embedding=np.asarray(face.vector, np.float32),
        fate="ambiguous",
    )
    stranger = replace(same, frame_index=41, embedding=other / np.linalg.norm(other))
    footage = web.store.footage.files()[0]
    web.store.tracklets.save_batch(
        footage.id, [], [], 60.0, None, FootageStatus.DONE, 0, 0, loose_faces=[same, stranger]
    )
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "LF-1", case_tracklet)
    result = ivy.get("/api/cases/LF-1/result").json()
    (found,) = result["loose_faces"]
    assert found["camera_id"] == "cam1" and found["score"] > 0.99
    assert found["box"] == [300.0, 80.0, 340.0, 130.0]
    assert found["frame_url"].startswith("/api/cases/LF-1/cameras/cam1/frame.jpg?at=2024-03-01")
    # Never a sighting: the timeline holds tracklets only.
    assert all(s["tracklet_id"] in web.tracklet_ids for s in result["timeline"])
    page = ivy.get("/cases/LF-1", headers={"Accept": "text/html"}).text
    assert "Faces seen without a tracked person: needs review (1)" in page
    assert "(300, 80)–(340, 130)" in page and "frame (faces blurred)" in page
    # The frame link goes through the frame picker (every face blurred); the synthetic
    # footage file does not exist here, so it is a clear 404.
    frame = ivy.get(found["frame_url"])
    assert frame.status_code == 404
