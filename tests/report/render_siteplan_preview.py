"""Render the sample trace on a drawn shopping-centre floor plan (for a person to look at).

    python -m tests.report.render_siteplan_preview [out_dir]

Writes the plan picture, the HTML report and the PDF into ``out_dir`` (default
``/tmp/siteplan_preview``), the PDF's route page as ``pdf-route-page.png`` (with
pypdfium2) and, where Chromium is installed, ``report-route.png``: the HTML report's
route section. Not a test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from cctrace.plans.model import SitePlanConfig
from cctrace.plans.storage import ActivePlan
from cctrace.report.html import write_html
from cctrace.report.pdf import PdfHeader, render_pdf
from tests.report.conftest import build_trace, write_snapshots

M_PER_PX = 0.06
"""Pixel (u, v) is at x = -10 + 0.06 u, y = 24 - 0.06 v metres."""
WALL = (60, 58, 56)
FLOOR = (238, 232, 218)
SHOP = (250, 247, 240)


def _px(x: float, y: float) -> tuple[int, int]:
    return round((x + 10) / M_PER_PX), round((24 - y) / M_PER_PX)


def draw_mall() -> Image.Image:
    """A shopping centre: shops north and south of a mall street, an atrium, a food court."""
    img = Image.new("RGB", (1400, 700), (255, 255, 255))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    d.rectangle((*_px(-8, 22), *_px(72, -16)), fill=FLOOR, outline=WALL, width=8)
    for i, name in enumerate(["Pharmacy", "Books", "Phones", "Bakery", "Shoes", "Toys"]):
        x0 = -8 + i * 11
        d.rectangle(
            (*_px(x0, 22), *_px(x0 + 11, 17 if 25 < x0 + 5 < 45 else 12)),
            fill=SHOP,
            outline=WALL,
            width=5,
        )
        d.text(_px(x0 + 1, 21), name, fill=WALL, font=font)
    d.ellipse((*_px(27, 21), *_px(41, 7)), outline=(150, 140, 120), width=4)
    d.text(_px(30, 15), "Atrium", fill=WALL, font=font)
    d.rectangle((*_px(50, 0), *_px(72, -16)), fill=(244, 236, 214), outline=WALL, width=5)
    d.text(_px(55, -13), "Food court", fill=WALL, font=font)
    for tx, ty in [(54, -4), (60, -4), (66, -4), (54, -9), (60, -9), (66, -9)]:
        d.ellipse((*_px(tx - 1.2, ty + 1.2), *_px(tx + 1.2, ty - 1.2)), outline=WALL, width=3)
    d.line((*_px(-8, 3), *_px(-8, -3)), fill=FLOOR, width=10)  # the door
    d.text(_px(-5, -5), "Main entrance", fill=WALL, font=font)
    for i, name in enumerate(["Bank", "Cafe", "Clothes", "Florist"]):
        x0 = -6 + i * 13
        d.rectangle((*_px(x0, -10), *_px(x0 + 13, -16)), fill=SHOP, outline=WALL, width=5)
        d.text(_px(x0 + 1, -11), name, fill=WALL, font=font)
    return img


def plan(out: Path) -> ActivePlan:
    """The floor plan saved in ``out`` and placed by three reference points."""
    path = out / "mall-plan.png"
    draw_mall().save(path)
    points = [(0.0, 0.0), (60.0, 0.0), (0.0, 20.0)]
    cfg = SitePlanConfig(
        image=path,
        points=[{"pixel": list(_px(x, y)), "x_m": x, "y_m": y} for x, y in points],  # type: ignore[misc]
    )
    return ActivePlan(cfg, "site file", 1400, 700)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/siteplan_preview")
    out.mkdir(parents=True, exist_ok=True)
    trace = build_trace(write_snapshots(out / "snapshots"))
    site_plan = plan(out)
    html = write_html(trace, out / "report.html", site_plan=site_plan)
    header = PdfHeader(
        case_id=trace.query.case_id, legal_basis="IDCPA Art. 76-2", team="north",
        exported_by="supervisor1", exported_at=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
        window_from=trace.query.window_from, window_to=trace.query.window_to,
    )  # fmt: skip
    pdf = out / "report.pdf"
    pdf.write_bytes(render_pdf(trace, header, site_plan=site_plan))
    try:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(pdf))
        pages = [doc[i].render(scale=1.5).to_pil() for i in range(len(doc))]
        route_page = next((p for p in pages if p.convert("L").getextrema()[0] < 250), pages[0])
        for i, page in enumerate(pages):
            page.save(out / f"pdf-page-{i + 1}.png")
        route_page.save(out / "pdf-route-page.png")
    except ImportError:
        print("pypdfium2 not installed: no PDF page pictures")
    chromium = shutil.which("chromium")
    if chromium:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={out / 'report-full.png'}", "--window-size=1100,4200",
             html.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
