"""Render the sample trace's HTML report and screenshot it (for a person to look at).

    python -m tests.report.render_preview [out_dir]

Writes every report format to ``out_dir`` (default ``/tmp/report_preview``) and,
where Chromium is installed, a full-page PNG at ``/tmp/report_preview.png``. Not a
test: nothing depends on Chromium.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

from cctrace.report import write_report
from tests.report.conftest import build_trace, write_snapshots

logger = logging.getLogger("render_preview")
PNG = Path("/tmp/report_preview.png")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/report_preview")
    paths = write_report(build_trace(write_snapshots(out / "snapshots")), out)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        logger.warning("chromium not installed: no screenshot (HTML at %s)", paths.html)
        return 0
    subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--screenshot={PNG}", "--window-size=1100,3400", paths.html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    logger.info("screenshot %s of %s", PNG, paths.html)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
