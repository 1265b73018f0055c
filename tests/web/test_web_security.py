"""Sign-in, sessions, CSRF, secrets, uploads and headers, tested against the real app."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from cctrace.errors import ConfigError
from cctrace.web import WebSettings, create_app
from cctrace.web.security import new_token, sign, unsign
from tests.web.web_support import PASSWORD, WebEnv, wait_job


def test_passwords_are_stored_as_argon2id(web: WebEnv) -> None:
    stored = web.store.users.password_hash("ivy")
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_login_is_rate_limited_and_audited(web: WebEnv) -> None:
    client = web.client_for("")
    for _ in range(5):
        resp = client.post("/api/auth/login", json={"username": "ivy", "password": "wrong"})
        assert resp.status_code == 401
    for _ in range(3):
        blocked = client.post("/api/auth/login", json={"username": "ivy", "password": PASSWORD})
        assert blocked.status_code == 429 and "try again" in blocked.json()["error"]["message"]
    outcomes = [e.query["outcome"] for e in web.store.audit.entries() if e.action == "sign_in"]
    assert outcomes.count("failed") == 5 and outcomes.count("rate_limited") == 1
    # Another user from the same address is not locked out by ivy's failures.
    assert (
        client.post("/api/auth/login", json={"username": "ian", "password": PASSWORD}).status_code
        == 200
    )
    stranger = client.post("/api/auth/login", json={"username": "no-such-user", "password": "x"})
    assert stranger.status_code == 401
    last = web.store.audit.entries()[-1]
    assert last.actor == "unknown user" and "no-such-user" not in str(last.query)


def test_many_successful_sign_ins_from_one_address_are_not_limited(web: WebEnv) -> None:
    client = web.client_for("")
    for _ in range(30):
        ok = client.post("/api/auth/login", json={"username": "sue", "password": PASSWORD})
        assert ok.status_code == 200


def test_expired_and_deactivated_sessions_are_refused(web: WebEnv) -> None:
    token = new_token()
    web.store.web_sessions.create(
        token, "ivy", new_token(), datetime.now(UTC) - timedelta(seconds=1)
    )
    client = web.client_for("")
    resp = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    ivy = web.client_for("ivy")
    assert ivy.get("/api/auth/me").status_code == 200
    adm = web.client_for("adm")
    assert adm.patch("/api/admin/users/ivy", json={"active": False}).status_code == 200
    assert ivy.get("/api/auth/me").status_code == 401
    assert (
        web.client_for("")
        .post("/api/auth/login", json={"username": "ivy", "password": PASSWORD})
        .status_code
        == 401
    )


def test_cookie_requests_need_the_csrf_header_bearer_requests_do_not(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    token = ivy.headers.pop("X-CSRF-Token")
    resp = ivy.post("/api/cases", json={"case_id": "X-1", "legal_basis": "basis"})
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "csrf"
    ivy.headers["X-CSRF-Token"] = "not-the-token"
    assert (
        ivy.post("/api/cases", json={"case_id": "X-1", "legal_basis": "basis"}).status_code == 403
    )
    ivy.headers["X-CSRF-Token"] = token
    assert (
        ivy.post("/api/cases", json={"case_id": "X-1", "legal_basis": "basis"}).status_code == 201
    )
    login = (
        web.client_for("")
        .post("/api/auth/login", json={"username": "ian", "password": PASSWORD})
        .json()
    )
    bearer = TestClient(web.app)  # type: ignore[arg-type]
    resp = bearer.post(
        "/api/cases",
        json={"case_id": "X-2", "legal_basis": "basis"},
        headers={"Authorization": f"Bearer {login['token']}"},
    )
    assert resp.status_code == 201
    bearer.close()


def test_login_form_needs_its_signed_csrf_cookie(web: WebEnv) -> None:
    client = web.client_for("")
    forged = client.post(
        "/login",
        data={"username": "ivy", "password": PASSWORD, "csrf_token": "guess"},
        follow_redirects=False,
    )
    assert forged.status_code == 403 and "expired" in forged.text
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    ok = client.post(
        "/login",
        data={
            "username": "ivy",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert "cctrace_session" in ok.headers["set-cookie"]
    assert "httponly" in ok.headers["set-cookie"].lower()
    assert "samesite=strict" in ok.headers["set-cookie"].lower()


def test_signed_values_detect_tampering() -> None:
    signed = sign("k" * 40, "value")
    assert unsign("k" * 40, signed) == "value"
    assert unsign("k" * 40, signed[:-1] + ("0" if signed[-1] != "0" else "1")) is None
    assert unsign("other" * 8, signed) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (None, False),
        ("changeme", False),
        ("my-secret-key-for-production-0123456789", False),
        ("x" * 64, False),
        ("tH9vQ2mXr7Lp0sKd3WfZb8NcYe1GuJa5RiOo6Vq4", True),
    ],
)
def test_secret_key_comes_from_the_environment_and_refuses_placeholders(
    monkeypatch: pytest.MonkeyPatch, value: str | None, ok: bool
) -> None:
    if value is None:
        monkeypatch.delenv("CCTRACE_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("CCTRACE_SECRET_KEY", value)
    if ok:
        assert WebSettings.from_env().secret_key == value
    else:
        with pytest.raises(ConfigError, match="CCTRACE_SECRET_KEY"):
            WebSettings.from_env()


def test_security_headers_and_openapi_schema(web: WebEnv) -> None:
    client = web.client_for("ivy")
    resp = client.get("/api/cases")
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-store"
    schema = client.get("/openapi.json").json()
    assert "/api/cases/{case_id}/traces" in schema["paths"]
    names = str(schema["components"]["schemas"]).lower()
    assert "embedding" not in names and "vector" not in names
    assert client.get("/docs").status_code == 200


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return bytes(buf.tobytes())


def test_uploads_are_checked_before_anything_runs(web: WebEnv, tmp_path: Path) -> None:
    ivy = web.client_for("ivy")
    ivy.post("/api/cases", json={"case_id": "U-1", "legal_basis": "basis"})
    url = "/api/cases/U-1/traces"
    text = ivy.post(url, files={"photos": ("notes.txt", b"hello", "text/plain")})
    assert text.status_code == 422 and "not a photo" in text.json()["error"]["message"]
    fake = ivy.post(url, files={"photos": ("case.jpg", b"not really a jpeg", "image/jpeg")})
    assert fake.status_code == 422
    assert "case.jpg" in fake.json()["error"]["message"]
    assert "readable image" in fake.json()["error"]["message"]
    empty_scene = np.full((240, 320, 3), 120, np.uint8)
    cv2.rectangle(empty_scene, (40, 40), (200, 200), (30, 90, 200), -1)
    noface = ivy.post(url, files={"photos": ("wall.jpg", _jpeg(empty_scene), "image/jpeg")})
    assert noface.status_code == 422 and "no face" in noface.json()["error"]["message"]
    none = ivy.post(url, data={"distance_m": "2"})
    assert none.status_code == 400 and "photo" in none.json()["error"]["message"]
    folder = web.site.storage.data_dir / "reports" / "U-1" / "query-photos"
    assert not folder.exists() or not any(folder.iterdir()), "rejected uploads are not kept"
    assert [e.action for e in web.store.audit.entries(case_id="U-1")].count("trace") == 0


def test_oversized_and_too_many_uploads_are_refused(web: WebEnv) -> None:
    settings = WebSettings(secret_key=new_token(), cookie_secure=False, max_upload_mb=0.1)
    app = create_app(web.site, settings, store=web.store)
    client = TestClient(app)
    login = client.post("/api/auth/login", json={"username": "ivy", "password": PASSWORD})
    client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    client.post("/api/cases", json={"case_id": "U-2", "legal_basis": "basis"})
    noise = np.random.default_rng(0).integers(0, 255, (600, 800, 3), np.uint8)
    big = client.post(
        "/api/cases/U-2/traces",
        files={
            "photos": ("big.png", io.BytesIO(cv2.imencode(".png", noise)[1].tobytes()), "image/png")
        },
    )
    assert big.status_code == 422 and "upload limit" in big.json()["error"]["message"]
    many = client.post(
        "/api/cases/U-2/traces",
        files=[("photos", (f"p{i}.jpg", b"x", "image/jpeg")) for i in range(6)],
    )
    assert many.status_code == 400 and "at most 5" in many.json()["error"]["message"]
    huge = client.post(
        "/api/cases/U-2/traces",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted as read
        for _ in range(40):
            yield b"x" * 65536

    chunked = client.post(
        "/api/cases", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["error"]["code"] == "too_large"
    stranger = TestClient(app)
    anonymous = stranger.post("/api/cases/U-2/traces", content=chunks())
    assert anonymous.status_code == 401  # refused before the body is read
    stranger.close()
    client.close()
    app.state.cctrace.jobs.shutdown()


def test_a_tiff_sent_as_png_is_refused_by_its_content(web: WebEnv) -> None:
    from PIL import Image

    ivy = web.client_for("ivy")
    ivy.post("/api/cases", json={"case_id": "U-2", "legal_basis": "basis"})
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, format="TIFF")
    resp = ivy.post(
        "/api/cases/U-2/traces", files={"photos": ("case.png", buf.getvalue(), "image/png")}
    )
    assert resp.status_code == 422 and "TIFF" in resp.json()["error"]["message"]


def test_an_uploaded_photo_is_stored_encrypted_and_still_traced(web: WebEnv) -> None:
    import os

    shared = os.environ.get("CCTRACE_SHARED_DATA") or str(
        Path(__file__).resolve().parents[3] / "shared" / "data"
    )
    face = Path(shared) / "faces" / "deepface" / "img1.jpg"
    if not face.is_file():
        pytest.skip(f"reference face photo not found: {face}")
    ivy = web.client_for("ivy")
    ivy.post("/api/cases", json={"case_id": "U-3", "legal_basis": "basis"})
    original = face.read_bytes()
    job = ivy.post("/api/cases/U-3/traces", files={"photos": ("case.jpg", original, "image/jpeg")})
    assert job.status_code == 202, job.text
    assert wait_job(ivy, job.json()["job_id"])["status"] == "done"
    stored = list((web.site.storage.data_dir / "reports" / "U-3" / "query-photos").iterdir())
    assert len(stored) == 1
    blob = stored[0].read_bytes()
    assert original[:64] not in blob and b"JFIF" not in blob[:64]  # not the photo in clear
    assert web.store.cipher.decrypt(blob, "photo") == original
