"""Every page in English and Korean: no untranslated text in Korean, the language switch
(cookie), Accept-Language as the default, and an export in the requester's language."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient

from cctrace.web.language import LANG_COOKIE
from tests.i18n_words import untranslated, visible_text
from tests.web.web_support import WebEnv, open_and_trace

HTML = {"Accept": "text/html"}
DATA = (
    # what the fixtures typed or named: not the interface's words
    "Camera cam1",
    "Public Health Act",
    "identify",
    "hand over",
    "north",  # team names
    "south",
    "report.pdf",  # file names
    "sightings.csv",
    "contacts.csv",
    "Not Found",  # only in the 404's English text when a page name is wrong (checked apart)
)
PAGES = {
    # user -> the pages their role sees
    "": ["/login"],
    "ivy": ["/cases", "/cases/C-1", "/contacts"],
    "sue": ["/cases", "/cases/C-1", "/approvals", "/contacts"],
    "aud": ["/audit", "/audit?case_id=C-1", "/audit?case_id=none"],
    "adm": ["/admin"],
}


@pytest.fixture
def prepared(web: WebEnv) -> WebEnv:
    """C-1 traced, a pending un-blur request, an approved export (made in Korean)."""
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", web.tracklet_ids[0])
    assert ivy.post("/api/cases/C-1/unblur", json={"reason": "identify", "tracklet_id": 2})
    sue = web.client_for("sue")
    sue.cookies.set(LANG_COOKIE, "ko")
    export = sue.post("/api/cases/C-1/exports", json={"reason": "hand over"})
    assert export.status_code == 201 and export.json()["status"] == "approved", export.text
    sue.cookies.delete(LANG_COOKIE)
    return web


def _page(client: TestClient, path: str, lang: str) -> str:
    client.cookies.set(LANG_COOKIE, lang)
    resp = client.get(path, headers=HTML)
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
    assert resp.headers["content-language"] == lang
    assert f'<html lang="{lang}">' in resp.text
    return resp.text


def test_every_page_in_both_languages(prepared: WebEnv) -> None:
    for user, paths in PAGES.items():
        client = prepared.client_for(user)
        for path in paths:
            english = _page(client, path, "en")
            korean = _page(client, path, "ko")
            switch = re.compile(r'<nav class="lang".*?</nav>', re.DOTALL)  # names itself
            assert not any(
                "\uac00" <= ch <= "\ud7a3" for ch in visible_text(switch.sub("", english))
            ), path
            assert any("\uac00" <= ch <= "\ud7a3" for ch in visible_text(korean)), path
            left = untranslated(visible_text(korean), DATA)
            assert not left, f"{user or 'signed out'} {path}: English left in Korean: {left}"


def test_error_pages_and_messages_are_translated(prepared: WebEnv) -> None:
    client = prepared.client_for("ivy")
    client.cookies.set(LANG_COOKIE, "ko")
    missing = client.get("/no-such-page", headers=HTML)
    assert missing.status_code == 404
    assert "찾을 수 없습니다" in missing.text
    assert not untranslated(visible_text(missing.text))
    refused = client.get("/admin", headers=HTML)
    assert refused.status_code == 403 and "권한이 없습니다" in refused.text
    assert "역학조사관 역할은 이 작업을 할 수 없습니다" in refused.text
    # the JSON API's message (shown by the page's script) follows the language too
    body = client.get("/api/admin/users").json()
    assert body["error"]["code"] == "forbidden"
    assert "할 수 없습니다" in body["error"]["message"]
    anonymous = prepared.client_for("")
    bad = anonymous.post(
        "/api/auth/login",
        json={"username": "ivy", "password": "wrong"},
        headers={"Accept-Language": "ko"},
    )
    assert bad.json()["error"]["message"] == "사용자 이름 또는 비밀번호가 틀렸습니다"


def test_accept_language_is_the_default_and_the_cookie_wins(prepared: WebEnv) -> None:
    client = prepared.client_for("")
    for header, lang in [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", "en"),
        ("fr-FR, ko;q=0.5", "ko"),
        ("fr-FR, de;q=0.5", "en"),
        ("ko;q=0, en", "en"),
        ("", "en"),
    ]:
        resp = client.get("/login", headers={**HTML, "Accept-Language": header})
        assert resp.headers["content-language"] == lang, header
    # the switch sets the cookie and goes back to the page it was pressed on
    switch = client.get("/language/en?next=/login%3Fnext%3D/cases", follow_redirects=False)
    assert switch.status_code == 303 and switch.headers["location"] == "/login?next=/cases"
    assert f"{LANG_COOKIE}=en" in switch.headers["set-cookie"]
    resp = client.get("/login", headers={**HTML, "Accept-Language": "ko"})
    assert resp.headers["content-language"] == "en" and "Sign in" in resp.text
    client.get("/language/ko?next=/login")
    resp = client.get("/login", headers={**HTML, "Accept-Language": "en"})
    assert resp.headers["content-language"] == "ko" and "로그인" in resp.text
    # every page offers the switch back, to the same page
    assert 'href="/language/en?next=/login"' in resp.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil", "x"])
def test_the_switch_never_leaves_the_site(prepared: WebEnv, target: str) -> None:
    resp = prepared.client_for("").get(
        "/language/ko", params={"next": target}, follow_redirects=False
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/"


def test_unknown_language_changes_nothing(prepared: WebEnv) -> None:
    resp = prepared.client_for("").get("/language/xx?next=/login", follow_redirects=False)
    assert resp.status_code == 303 and "set-cookie" not in resp.headers


def test_export_is_in_the_language_of_whoever_made_it(prepared: WebEnv) -> None:
    pypdf = pytest.importorskip("pypdf")
    from cctrace.report.fonts import find_korean_fonts

    if find_korean_fonts() is None:
        pytest.skip("NanumGothic is not installed (bash scripts/setup.sh fetches it)")
    sue = prepared.client_for("sue")
    approvals = sue.get("/api/cases/C-1/approvals").json()
    export = next(a for a in approvals if a["kind"] == "export")
    url = next(d for d in export["downloads"] if d.endswith("report.pdf"))
    pdf = pypdf.PdfReader(io.BytesIO(sue.get(url).content))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "접촉자 추적 보고서 - 사례 C-1" in text
    assert "Contact tracing report" not in text
