"""Edge values at the API: a case number in use, a distance beyond the widest band, ids beyond
the database range: each refused the same clear way, before any work."""

from __future__ import annotations

import pytest

from cctrace.errors import StoreError
from cctrace.store import CaseStatus
from tests.web.web_support import WebEnv


def test_a_number_in_use_gets_one_answer_whoever_holds_it(web: WebEnv) -> None:
    ivy, ian, sam = web.client_for("ivy"), web.client_for("ian"), web.client_for("sam")
    body = {"case_id": "C-77", "legal_basis": "Public Health Act"}
    assert ivy.post("/api/cases", json=body).status_code == 201
    own = ivy.post("/api/cases", json=body)  # ivy's own case
    colleague = ian.post("/api/cases", json=body)  # same team, another investigator's
    other_team = sam.post("/api/cases", json=body)  # another team's
    answers = [(r.status_code, r.json()) for r in (own, colleague, other_team)]
    assert answers[0] == answers[1] == answers[2]
    status, error = answers[0]
    assert status == 409 and error["error"]["code"] == "already_exists"
    message = error["error"]["message"]
    assert "north" not in message and "ivy" not in message and "exists" not in message
    # Nothing of the other team's case is reachable, and the attempts are in the log.
    assert sam.get("/api/cases/C-77").status_code == 404
    refused = [e for e in web.store.audit.entries() if e.action == "case_open_refused"]
    assert [e.actor for e in refused] == ["ivy", "ian", "sam"]


def test_a_distance_beyond_the_widest_band_is_refused_before_photos_are_read(
    web: WebEnv,
) -> None:
    ivy = web.client_for("ivy")
    assert (
        ivy.post(
            "/api/cases", json={"case_id": "C-5", "legal_basis": "Public Health Act"}
        ).status_code
        == 201
    )
    resp = ivy.post(
        "/api/cases/C-5/traces",
        data={"distance_m": "5"},
        files={"photos": ("face.png", b"not a photo at all", "image/png")},
    )
    assert resp.status_code == 400, resp.text
    message = resp.json()["error"]["message"]
    assert "distance_m 5 m" in message and "at most 3 m" in message
    assert "ingest.distance_bands_m" in message


def test_an_audit_page_id_beyond_the_database_range_is_a_clear_422(web: WebEnv) -> None:
    aud = web.client_for("aud")
    resp = aud.get("/api/audit", params={"before_id": str(2**63)})
    assert resp.status_code == 422 and "before_id" in resp.json()["error"]["message"]


def test_an_action_whose_audit_entry_fails_is_not_stored(
    web: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing a case and its audit entry are one unit of work: when the entry cannot be
    written (the database refused it), the case stays open and the user gets an error."""
    ivy = web.client_for("ivy")
    body = {"case_id": "C-9", "legal_basis": "Public Health Act"}
    assert ivy.post("/api/cases", json=body).status_code == 201
    real_append = web.store.audit.append

    def refused(actor: str, action: str, *args: object, **kwargs: object) -> object:
        if action == "case_close":
            raise StoreError("database constraint violated: audit entry refused")
        return real_append(actor, action, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(web.store.audit, "append", refused)
    resp = ivy.post("/api/cases/C-9/close")
    assert resp.status_code >= 500 and resp.json()["error"]["code"]
    assert web.store.cases.get("C-9").status is CaseStatus.OPEN
    monkeypatch.setattr(web.store.audit, "append", real_append)
    assert ivy.post("/api/cases/C-9/close").status_code == 200
    assert web.store.cases.get("C-9").status is CaseStatus.CLOSED
    assert [e.action for e in web.store.audit.entries(case_id="C-9")] == ["case_open", "case_close"]
