"""Screenshots of the web app's main pages, for the docs (docs/screenshots/*.png).

    python scripts/screenshots.py [--workdir demo] [--out docs/screenshots] [--lang en ko]

Builds the demo in ``--workdir`` when it has none (``cctrace demo``: real PETS2009
footage, the shared copy of the clip when ``--shared-data`` has it), serves a throwaway
copy of it (so the requests made for the pictures do not stay in your demo), signs in
as each demo user in headless Debian Chromium (``/usr/bin/chromium``, driven by
Playwright; nothing is downloaded) and saves 1440 px wide PNGs: English in ``--out``,
Korean in ``--out/ko`` (the browser asks for the language, as a tracer's would).
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1440
MAX_BYTES = 400_000


@contextmanager
def serve_demo(workdir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Serve the demo in ``workdir`` on a free local port: (base URL, user -> password)."""
    import uvicorn

    from cctrace.config import load_site
    from cctrace.web import WebSettings, create_app
    from cctrace.web.cli import ensure_demo_users

    site = load_site(workdir / "site.yaml", check_files=False)
    passwords = ensure_demo_users(site.storage.data_dir, workdir)
    app = create_app(site, WebSettings.for_demo())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the web app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", passwords
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def save_png(data: bytes, path: Path) -> None:
    """Write a screenshot, reduced to a 256-colour palette if it is too large."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    if out.tell() > MAX_BYTES:
        out = io.BytesIO()
        image.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    path.write_bytes(out.getvalue())
    print(
        f"  {path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
        f"{image.width}x{image.height}, {out.tell() // 1024} KB"
    )


LOCALES = {"en": "en-GB", "ko": "ko-KR"}


def sign_in(browser: Any, base: str, user: str, password: str, lang: str = "en") -> Any:
    """A new browser context (asking for ``lang``) signed in as ``user``; returns its page."""
    context = browser.new_context(
        base_url=base,
        viewport={"width": WIDTH, "height": 900},
        device_scale_factor=1,
        locale=LOCALES[lang],
    )
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill(user)
    page.locator("#password").fill(password)
    with page.expect_navigation():
        page.locator("#password").press("Enter")
    return page


def settle(page: Any) -> None:
    """Wait until every image on the page has loaded (snapshots are lazy)."""
    page.evaluate(
        """async () => {
             for (const img of document.images) { img.loading = "eager"; }
             await Promise.all([...document.images].map((img) => img.complete ? null :
               new Promise((r) => { img.onload = img.onerror = r; })));
             await document.fonts.ready;
           }"""
    )


def take(browser: Any, base: str, passwords: dict[str, str], out: Path, lang: str) -> None:
    """Sign in as each role and save the pages."""
    from cctrace.demo import DEMO_CASE

    context = browser.new_context(
        base_url=base, viewport={"width": WIDTH, "height": 720}, locale=LOCALES[lang]
    )
    page = context.new_page()
    page.goto("/login")
    page.locator("#username").fill("investigator")
    settle(page)
    save_png(page.screenshot(), out / "01-sign-in.png")
    context.close()

    page = sign_in(browser, base, "investigator", passwords["investigator"], lang)
    page.goto(f"/cases/{DEMO_CASE}")
    settle(page)
    save_png(page.screenshot(full_page=True), out / "02-case.png")
    route = page.locator("section[aria-labelledby=route-h] figure.plan")
    route.scroll_into_view_if_needed()
    save_png(route.screenshot(), out / "07-site-plan.png")
    contacts = page.locator("section[aria-labelledby=contacts-h]")
    contacts.scroll_into_view_if_needed()
    save_png(contacts.screenshot(), out / "03-contacts.png")
    page.locator("#export-reason").fill("hand-over to the district health office")
    with page.expect_navigation():
        page.locator("#export-reason").press("Enter")

    for user, path, name, full in (
        ("supervisor", "/approvals", "04-approvals.png", True),
        ("auditor", "/audit", "05-audit.png", False),
        ("admin", "/admin", "06-admin.png", True),
    ):
        page = sign_in(browser, base, user, passwords[user], lang)
        page.goto(path)
        settle(page)
        save_png(page.screenshot(full_page=full), out / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("demo"), help="demo folder")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument(
        "--shared-data",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="reference data with the PETS clip (used when present)",
    )
    parser.add_argument("--lang", nargs="+", choices=sorted(LOCALES), default=["en", "ko"])
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        print(f"{CHROMIUM} not found: install Debian's 'chromium' package", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from cctrace.demo import run_demo

    if not (args.workdir / "site.yaml").is_file():
        print(f"no demo in {args.workdir}: building it (a few minutes)")
        shared = args.shared_data if args.shared_data.is_dir() else None
        run_demo(args.workdir, shared_data=shared)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cctrace-shots-") as tmp:
        work = Path(tmp) / "demo"
        shutil.copytree(args.workdir, work)
        (work / "demo-users.txt").unlink(missing_ok=True)
        with serve_demo(work) as (base, passwords), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for lang in args.lang:
                    out = args.out if lang == "en" else args.out / lang
                    out.mkdir(parents=True, exist_ok=True)
                    take(browser, base, passwords, out, lang)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
