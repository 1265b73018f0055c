"""Local time and names in a real browser (issue 13, items 1 and 4), in English and
Korean, on a 1366x768 laptop and a 390x844 phone.

The demo site (real PETS2009 footage) is served twice with a site ``timezone``:

* **Europe/Berlin**, with a case whose infectious window starts a day before the last
  daylight-saving change before the footage and ends after it: the window reads with
  the offset before the change at its start and the one after it at its end
  (``+02:00`` / ``+01:00`` for footage in winter);
* **Asia/Seoul** (``+09:00``, no DST).

The window is typed into the case form's ``datetime-local`` inputs as local wall-clock
time and the test checks the UTC the server stored; the case is then traced from the
trace form, and a time typed into the frame picker is checked against the UTC instant
the server used. The case page, the case list, the call-list CSV and the HTML report
(rendered for the case's result and opened in Chromium) show local times with their
offset; contacts read "Person N (camera, HH:MM)" with their snapshot, and their
tracklet ids stay in the page details and the CSV.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.browser_support import (
    DESKTOP,
    PHONE,
    Server,
    context_for,
    launch_browser,
    serve_demo,
    sign_in,
)

pytestmark = pytest.mark.slow

ZONES = ["Europe/Berlin", "Asia/Seoul"]
LOCALES = {"en": "en-GB", "ko": "ko-KR"}
SCREENS = {"laptop": DESKTOP, "phone": PHONE}
CASE = "TZ-0001"
DEMO_CASE = "DEMO-0001"
PERSON = {"en": "Person {n} ({camera}, {time})", "ko": "{n}번 사람 ({camera}, {time})"}
CSV_CONTACT = {"en": "Contact", "ko": "접촉자"}
CSV_FIRST_SEEN = {"en": "First seen", "ko": "처음 포착"}
CSV_TRACKLETS = {"en": "Tracklets", "ko": "tracklet"}


def _offset(dt: datetime) -> str:
    """``+09:00`` of an aware local datetime."""
    minutes = round((dt.utcoffset() or timedelta(0)).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _shown(dt: datetime, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """How a person should read the UTC instant ``dt``: local time and its offset."""
    local = dt.astimezone(tz)
    return f"{local.strftime(fmt)} {_offset(local)}"


def _last_change_before(tz: ZoneInfo, instant: datetime) -> datetime | None:
    """The first UTC hour on the new offset of ``tz``'s last offset change in the year
    before ``instant`` (None for a zone without one, like Asia/Seoul)."""
    hour = instant.replace(minute=0, second=0, microsecond=0)
    after = hour.astimezone(tz).utcoffset()
    for _ in range(366 * 24):
        before = (hour - timedelta(hours=1)).astimezone(tz).utcoffset()
        if before != after:
            return hour
        hour -= timedelta(hours=1)
    return None


@dataclass
class ZonedSite:
    """The demo served with a site time zone, and the case opened on it."""

    zone: str
    tz: ZoneInfo
    server: Server
    browser: Any
    window_from: datetime  # UTC, as the server should store it
    window_to: datetime
    change: datetime | None  # the DST change inside the window (UTC), if any


def _zoned_copy(copy_demo: Callable[[Path], Path], zone: str) -> Callable[[Path], Path]:
    def copy(target: Path) -> Path:
        copy_demo(target)
        site = target / "site.yaml"
        site.write_text(f"timezone: {zone}\n" + site.read_text())
        return target

    return copy


@pytest.fixture(scope="module", params=ZONES)
def zoned(
    request: pytest.FixtureRequest,
    copy_demo: Callable[[Path], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ZonedSite]:
    """The demo served in ``zone``; an investigator types the case window in local time
    on the case list's form, then runs its trace from the case page's form (keyboard)."""
    zone: str = request.param
    servers = serve_demo(_zoned_copy(copy_demo, zone), tmp_path_factory)
    server = next(servers)
    browsers = launch_browser(server)
    browser = next(browsers)
    try:
        yield _open_and_trace(zone, server, browser)
    finally:
        next(browsers, None)
        next(servers, None)


def _open_and_trace(zone: str, server: Server, browser: Any) -> ZonedSite:
    from cctrace.config import load_site
    from cctrace.web.services import latest_result

    tz = ZoneInfo(zone)
    state = server.app.state.cctrace
    assert state.site.zone_name == zone
    site = load_site(server.workdir / "site.yaml", check_files=False)
    footage_start = min(c.start_time for c in site.cameras if c.start_time).astimezone(UTC)
    change = _last_change_before(tz, footage_start)
    if change is not None:  # a day before the change, on the old offset
        start_local = (change - timedelta(days=1)).astimezone(tz).replace(tzinfo=None)
    else:
        start_local = footage_start.astimezone(tz).replace(tzinfo=None) - timedelta(hours=6)
    start_local = start_local.replace(minute=15, second=0, microsecond=0)
    end_local = (footage_start + timedelta(hours=3)).astimezone(tz).replace(tzinfo=None)
    end_local = end_local.replace(minute=45, second=30, microsecond=0)
    demo = latest_result(state, DEMO_CASE)
    assert demo is not None and demo.query.start_tracklet_id is not None

    context = context_for(browser, server, DESKTOP, LOCALES["en"])
    try:
        page = context.new_page()
        sign_in(page, "investigator", server.passwords["investigator"], "/cases")
        page.locator("#case_id").fill(CASE)
        page.locator("#legal_basis").fill("IfSG s.25 / IDCPA art. 76-2")
        page.locator("#window_from").fill(start_local.strftime("%Y-%m-%dT%H:%M:%S"))
        page.locator("#window_to").fill(end_local.strftime("%Y-%m-%dT%H:%M:%S"))
        with page.expect_navigation(url=f"**/cases/{CASE}"):
            page.locator("#window_to").press("Enter")
        stored = state.store.cases.get(CASE)
        expected_from = start_local.replace(tzinfo=tz).astimezone(UTC)
        expected_to = end_local.replace(tzinfo=tz).astimezone(UTC)
        assert stored.window_from.replace(tzinfo=UTC) == expected_from, "typed times are local"
        assert stored.window_to.replace(tzinfo=UTC) == expected_to, "typed times are local"
        if change is not None:
            assert (
                expected_from.astimezone(tz).utcoffset() != expected_to.astimezone(tz).utcoffset()
            ), "the window should straddle the DST change"

        _picker_reads_local_time(page, tz)

        page.locator("#tracklet_id").fill(str(demo.query.start_tracklet_id))
        page.locator("#tracklet_id").press("Enter")  # submits the trace form
        page.locator(".summary").wait_for(timeout=240_000)  # reloaded when the job is done
        return ZonedSite(zone, tz, server, browser, expected_from, expected_to, change)
    finally:
        context.close()


def _picker_reads_local_time(page: Any, tz: ZoneInfo) -> None:
    """The frame picker lists each camera's footage in local time, starts at the local
    footage start, and a time typed into it is the site's local time."""
    page.locator("#picker summary").focus()
    page.keyboard.press("Enter")
    first = page.locator("#pick-camera option").first
    first.wait_for(state="attached")
    cameras = page.request.get(f"/api/cases/{CASE}/cameras").json()
    camera = next(c for c in cameras if c["camera_id"] == first.get_attribute("value"))
    start = datetime.fromisoformat(camera["footage_from"].replace("Z", "+00:00"))
    start = start.replace(tzinfo=start.tzinfo or UTC)
    local_start = start.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    assert local_start in first.inner_text(), (first.inner_text(), local_start)
    at = page.locator("#pick-at")
    assert datetime.fromisoformat(at.input_value()) == datetime.fromisoformat(local_start)
    typed = (start + timedelta(seconds=20)).astimezone(tz).replace(tzinfo=None)
    at.fill(typed.strftime("%Y-%m-%dT%H:%M:%S"))
    with page.expect_response(re.compile(r"/people\?at=")) as answer:
        page.locator("#pick-show").focus()
        page.keyboard.press("Enter")
    sent = parse_qs(urlparse(answer.value.url).query)["at"][0]
    assert datetime.fromisoformat(sent) == typed, "the typed wall-clock time is sent as is"
    used = datetime.fromisoformat(answer.value.json()["timestamp"].replace("Z", "+00:00"))
    used = used.replace(tzinfo=used.tzinfo or UTC)
    wanted = typed.replace(tzinfo=tz).astimezone(UTC)
    assert abs((used - wanted).total_seconds()) < 1, f"{sent} read as {used}, not {wanted}"


def _no_sideways_scroll(page: Any, where: str) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{where}: the page scrolls sideways ({scroll} > {inner} px)"


def _caption(zoned: ZonedSite, times: list[datetime]) -> str:
    offsets: list[str] = []
    for t in sorted(times):
        off = _offset(t.astimezone(zoned.tz))
        if off not in offsets:
            offsets.append(off)
    return f"{zoned.zone}, UTC{' / '.join(offsets)}"


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("screen", ["laptop", "phone"])
def test_local_times_and_contact_names(zoned: ZonedSite, screen: str, lang: str) -> None:
    from cctrace.i18n import use_language
    from cctrace.report.formatting import result_times
    from cctrace.report.html import render_html
    from cctrace.web.services import latest_result

    tz, where = zoned.tz, f"{zoned.zone}, {screen}, {lang}"
    state = zoned.server.app.state.cctrace
    result = latest_result(state, CASE)
    assert result is not None and result.contacts, "the case's trace should find contacts"
    times = result_times(result)
    mixed = len({t.astimezone(tz).utcoffset() for t in times}) > 1
    window = f"{_shown(zoned.window_from, tz)} – {_shown(zoned.window_to, tz)}"
    if zoned.change is not None:
        assert _offset(zoned.window_from.astimezone(tz)) != _offset(zoned.window_to.astimezone(tz))

    context = context_for(zoned.browser, zoned.server, SCREENS[screen], LOCALES[lang])
    try:
        page = context.new_page()
        sign_in(page, "investigator", zoned.server.passwords["investigator"], "/cases")
        assert page.locator("html").get_attribute("lang") == lang

        # The case list: the window with both offsets; the form says its zone.
        row = page.locator("table.data tbody tr", has=page.locator(f"a[href='/cases/{CASE}']"))
        assert window in row.inner_text(), where
        assert zoned.zone in page.locator("#window-zone").inner_text()
        _no_sideways_scroll(page, f"/cases ({where})")

        # The case page: window, the zone caption, the timeline and contacts.
        page.goto(f"/cases/{CASE}")
        facts = page.locator(".case-head .facts").inner_text()
        assert window in facts, (where, facts)
        caption = _caption(zoned, times)
        assert caption in facts, (where, caption, facts)
        first = min(result.sightings, key=lambda s: s.start)
        cell = page.locator("section[aria-labelledby=timeline-h] tbody tr").first.locator("td")
        shown = (
            _shown(first.start, tz)
            if mixed
            else first.start.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
        )
        assert cell.nth(1).inner_text().strip() == shown, where

        names = _contact_names(page, result, tz, lang, mixed, where)
        _no_sideways_scroll(page, f"/cases/{CASE} ({where})")

        # The call list CSV (in the page's language): names, local times with offsets,
        # tracklet ids.
        with page.expect_download() as download:
            page.locator("a.download").focus()
            page.keyboard.press("Enter")
        data = Path(download.value.path()).read_bytes().decode("utf-8-sig")
        header, *rows = list(csv.reader(io.StringIO(data)))
        contact_col = header.index(CSV_CONTACT[lang])
        seen_col = next(i for i, h in enumerate(header) if h.startswith(CSV_FIRST_SEEN[lang]))
        ids_col = next(i for i, h in enumerate(header) if h.startswith(CSV_TRACKLETS[lang]))
        assert [r[contact_col] for r in rows] == [n for n, _ in names], where
        for row_, (_, contact) in zip(rows, names, strict=True):
            assert row_[seen_col] == _shown(contact.first_seen, tz), (where, row_)
            ids = {int(i) for i in re.split(r"[;, ]+", row_[ids_col]) if i}
            assert ids == set(contact.contact_tracklet_ids), (where, row_)

        # The HTML report of this result, opened in the browser.
        with use_language(lang):
            html = render_html(result, tz=tz, lang=lang)
        page.set_content(html)
        report = page.locator("body").inner_text()
        minutes = "%Y-%m-%d %H:%M"
        for edge in (zoned.window_from, zoned.window_to):
            assert _shown(edge, tz, minutes) in report, (where, _shown(edge, tz, minutes))
        assert caption in report, (where, caption)
        for name, _ in names:
            assert name in report, (where, name)
        _no_sideways_scroll(page, f"the HTML report ({where})")
    finally:
        context.close()


def _contact_names(
    page: Any, result: Any, tz: ZoneInfo, lang: str, mixed: bool, where: str
) -> list[tuple[str, Any]]:
    """Each contact on the case page reads "Person N (camera, HH:MM)", with a snapshot
    named after them and their tracklet ids in the details; returns (name, contact) in
    page order."""
    from cctrace.report.formatting import camera_index, camera_name, first_encounter

    cameras = camera_index(result)
    bodies = page.locator("tbody.contact")
    assert bodies.count() == len(result.contacts), where
    names = []
    for number, contact in enumerate(result.contacts, start=1):
        enc = first_encounter(contact)
        assert enc is not None, where
        hm = enc.start.astimezone(tz).strftime("%H:%M")
        hm += f" {_offset(enc.start.astimezone(tz))}" if mixed else ""
        name = PERSON[lang].format(n=number, camera=camera_name(cameras, enc.camera_id), time=hm)
        body = bodies.nth(number - 1)
        assert body.locator("td strong").first.inner_text() == name, where
        ids = body.locator(".tracklet").first.inner_text()
        assert all(str(i) in ids for i in contact.contact_tracklet_ids), (where, ids)
        img = body.locator("img.thumb")
        if img.count():
            img.first.scroll_into_view_if_needed()
            img.first.evaluate("i => i.decode().catch(() => null)")
            assert name in (img.first.get_attribute("alt") or ""), where
            assert img.first.evaluate("i => i.complete && i.naturalWidth > 0"), where
        names.append((name, contact))
    assert any(body.locator("img.thumb").count() for body in bodies.all()), "snapshots shown"
    return names
