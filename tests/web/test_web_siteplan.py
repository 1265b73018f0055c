"""The admin's site plan over the API: upload checks, placement, audit, case page."""

from __future__ import annotations

import io

from PIL import Image

from cctrace.web.language import LANG_COOKIE
from tests.web.web_support import PLAN_POINTS, WebEnv, open_and_trace

HTML = {"Accept": "text/html"}


def _png(
    size: tuple[int, int] = (400, 300), colour: tuple[int, int, int] = (214, 170, 90)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def _upload(client, data: bytes, name: str = "plan.png"):  # type: ignore[no-untyped-def]
    return client.post("/api/admin/site-plan/image", files={"image": (name, data, "image/png")})


def test_admin_uploads_places_and_the_case_page_draws_it(web: WebEnv) -> None:
    adm = web.client_for("adm")
    assert adm.get("/api/admin/site-plan").json()["in_force"] == "none"
    resp = _upload(adm, _png())
    assert resp.status_code == 201, resp.text
    status = resp.json()
    assert status["uploaded"] and not status["placed"] and status["width"] == 400
    resp = adm.post("/api/admin/site-plan/points", json=PLAN_POINTS)
    assert resp.status_code == 200, resp.text
    placed = resp.json()
    assert placed["in_force"] == "upload" and placed["placement"]["kind"] == "affine"
    assert placed["placement"]["metres_per_pixel"] > 0
    # 60 m over 300 px across, 40 m over 200 px up: a 0.2 m/px similarity, check ~0
    assert placed["placement"]["check_max_m"] < 1e-6
    actions = [e.action for e in web.store.audit.entries()]
    assert "site_plan_upload" in actions and "site_plan_place" in actions
    admin_page = adm.get("/admin", headers=HTML).text
    assert 'id="plan-preview"' in admin_page and 'value="350.0"' in admin_page
    assert adm.get("/api/admin/site-plan/image").content[:8] == b"\x89PNG\r\n\x1a\n"

    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", web.tracklet_ids[0])
    for lang, words in (("en", "Drawn on the site"), ("ko", "현장 자체 평면도 위에 그렸습니다")):
        ivy.cookies.set(LANG_COOKIE, lang)
        page = ivy.get("/cases/C-1", headers=HTML).text
        svg = page[page.index("<svg viewBox") :]
        assert svg.index('<image class="plan-image"') < svg.index('class="cam')
        assert words in page
    # investigators cannot change or read the plan's admin API
    assert ivy.get("/api/admin/site-plan").status_code == 403
    assert _upload(ivy, _png()).status_code == 403


def test_bad_uploads_and_points_are_refused_with_reasons(web: WebEnv) -> None:
    adm = web.client_for("adm")
    resp = adm.post("/api/admin/site-plan/points", json=PLAN_POINTS)
    assert resp.status_code == 400 and "upload a site plan first" in resp.text
    resp = _upload(adm, b"GIF89a" + b"\0" * 64, "plan.gif")
    assert resp.status_code == 400 and "PNG, JPEG or SVG" in resp.json()["error"]["message"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    resp = _upload(adm, svg, "plan.svg")
    assert resp.status_code == 400 and "<script>" in resp.json()["error"]["message"]
    adm.cookies.set(LANG_COOKIE, "ko")
    resp = _upload(adm, b"text", "plan.txt")
    assert "평면도는 PNG, JPEG 또는 SVG 파일이어야 합니다" in resp.json()["error"]["message"]
    adm.cookies.delete(LANG_COOKIE)
    refused = [e for e in web.store.audit.entries() if e.action == "site_plan_upload_refused"]
    assert len(refused) == 3
    assert _upload(adm, _png()).status_code == 201
    on_a_line = {**PLAN_POINTS, "p3_u": "200", "p3_v": "250", "p3_a": "10", "p3_b": "-20"}
    resp = adm.post("/api/admin/site-plan/points", json=on_a_line)
    assert resp.status_code == 400 and "one line" in resp.text
    half = {k: v for k, v in PLAN_POINTS.items() if k != "p3_b"}
    resp = adm.post("/api/admin/site-plan/points", json=half)
    assert resp.status_code == 400 and "point 3" in resp.text
    outside = {**PLAN_POINTS, "p2_u": "900"}
    resp = adm.post("/api/admin/site-plan/points", json=outside)
    assert resp.status_code == 400 and "outside the image" in resp.text
    assert adm.get("/api/admin/site-plan").json()["placed"] is False
    assert adm.delete("/api/admin/site-plan").json()["uploaded"] is False
