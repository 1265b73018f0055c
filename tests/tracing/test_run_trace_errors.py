"""A trace that cannot run leaves no case behind."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cctrace.casework import run_trace
from cctrace.config import SiteConfig
from cctrace.errors import NotFoundError, PhotoError
from cctrace.store.repository import Store
from cctrace.tracing.service import TraceRequest


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "cameras": [{"id": "c1", "location": {"x_m": 0, "y_m": 0}, "footage": ["x.mp4"]}],
            "storage": {"data_dir": str(tmp_path / "data")},
        }
    )


@pytest.mark.parametrize("bad", ["no face", "unknown tracklet"])
def test_a_failed_trace_creates_no_case(site: SiteConfig, tmp_path: Path, bad: str) -> None:
    photo = tmp_path / "wall.png"
    cv2.imwrite(str(photo), np.full((200, 200, 3), 180, np.uint8))
    request = TraceRequest(
        case_id="C-404",
        actor="ivy",
        photos=(photo,) if bad == "no face" else (),
        tracklet_id=None if bad == "no face" else 12345,
        legal_basis="test",
    )
    with pytest.raises(PhotoError if bad == "no face" else NotFoundError):
        run_trace(site, request)
    with Store.for_site(site) as store, pytest.raises(NotFoundError):
        store.cases.get("C-404")


def test_the_failed_attempt_is_still_audited(site: SiteConfig, tmp_path: Path) -> None:
    request = TraceRequest(case_id="C-405", actor="ivy", tracklet_id=999, legal_basis="t")
    with pytest.raises(NotFoundError):
        run_trace(site, request)
    with Store.for_site(site) as store:
        (entry,) = [e for e in store.audit.entries() if e.case_id == "C-405"]
    assert entry.action == "trace" and "NotFoundError" in entry.result["error"]
