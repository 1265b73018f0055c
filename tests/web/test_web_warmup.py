"""A web process does its one-time work before its first request (``cctrace serve
--workers N`` used to make the first page views of every fresh worker take seconds)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any

import jinja2
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import cctrace.report.siteplan as siteplan
from cctrace.web.pages import templates
from cctrace.web.warmup import warm_up
from tests.web.web_support import PLAN_POINTS, WebEnv, open_and_trace

HTML = {"Accept": "text/html"}


def _place_a_plan(web: WebEnv) -> None:
    adm = web.client_for("adm")
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (214, 170, 90)).save(out, format="PNG")
    files = {"image": ("plan.png", out.getvalue(), "image/png")}
    assert adm.post("/api/admin/site-plan/image", files=files).status_code == 201
    assert adm.post("/api/admin/site-plan/points", json=PLAN_POINTS).status_code == 200


def _counting(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, delay_s: float = 0.0
) -> list[str]:
    """Replace ``owner.name`` by a wrapper that records its calls (and waits ``delay_s``
    first, so that overlapping requests really overlap)."""
    calls: list[str] = []
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.current_thread().name)
        time.sleep(delay_s)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_started_app_compiles_its_templates_before_the_first_page(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates.env.cache.clear()  # as in a fresh worker process
    compiled = _counting(monkeypatch, jinja2.Environment, "compile")
    with TestClient(web.app) as started:  # runs the lifespan startup, as uvicorn does
        names = {t.name for t in templates.env.cache.values()}
        assert {"base.html", "case.html", "cases.html", "audit.html"} <= names
        assert "siteplan_svg.html" in names  # the report's drawing, included by case.html
        before = len(compiled)
        ivy = web.client_for("ivy")
        open_and_trace(ivy, "C-1", web.tracklet_ids[0])
        for path in ("/cases", "/cases/C-1"):
            assert ivy.get(path, headers=HTML).status_code == 200
        aud = web.client_for("aud")
        assert aud.get("/audit", headers=HTML).status_code == 200
        assert started.get("/login", headers=HTML).status_code == 200
        assert len(compiled) == before, "a page compiled a template on its first view"


def test_warm_up_reports_what_it_did_and_does_not_raise(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = web.app.state.cctrace  # type: ignore[attr-defined]
    done = warm_up(state)
    assert done.store and not done.plan and not done.problems and "case.html" in done.templates

    def broken() -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(state.store.audit, "head", broken)
    done = warm_up(state)  # logged, left to the requests
    assert done.problems == ["store: database gone"] and not done.store


def test_concurrent_first_views_of_a_case_warp_its_plan_once(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    _place_a_plan(web)
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", web.tracklet_ids[0])
    siteplan._WARPED.clear()  # as in a fresh worker process
    warps = _counting(monkeypatch, siteplan, "warp_background", delay_s=0.3)
    clients = [web.client_for("ivy") for _ in range(4)]
    pages: list[str] = []

    def view(client: TestClient) -> None:
        pages.append(client.get("/cases/C-1", headers=HTML).text)

    threads = [threading.Thread(target=view, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(pages) == 4 and all('<image class="plan-image"' in p for p in pages)
    assert len(warps) == 1, f"the plan was warped {len(warps)} times for one case"
    ivy.get("/cases/C-1", headers=HTML)
    assert len(warps) == 1
