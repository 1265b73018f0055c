"""The Korean font of the PDF reports: NanumGothic (SIL Open Font License 1.1).

reportlab's built-in fonts have no Hangul, so a Korean PDF embeds NanumGothic
(regular and bold), a TrueType font from Debian's ``fonts-nanum`` package.
``scripts/setup.sh`` fetches it once, without root, with ``python -m
cctrace.report.fonts`` (``apt-get download fonts-nanum``, then ``dpkg-deb -x``), into
:func:`font_dir` (``$CCTRACE_FONT_DIR``, else ``<venv>/share/cctrace/fonts``), with
the package's copyright file (the OFL text) beside it. Nothing is downloaded at run
time; a system-wide ``fonts-nanum`` install is used too when present.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cctrace.errors import ConfigError

log = logging.getLogger(__name__)

FONT_PACKAGE = "fonts-nanum"
FONT_MEMBER_DIR = Path("usr/share/fonts/truetype/nanum")
LICENSE_MEMBER = Path("usr/share/doc/fonts-nanum/copyright")
REGULAR = "NanumGothic.ttf"
BOLD = "NanumGothicBold.ttf"
FONT_SHA256 = {
    # Debian bookworm fonts-nanum 20200506-1
    REGULAR: "48a28e97b34fc8e5b157657633670cd1b7de126cfc414da65ce9c3d5bc8be733",
    BOLD: "454eb3f503f377782a99eb84fc4bb7dde22a0f075d41b47427737f2985053bc9",
}
FONT_DIR_ENV = "CCTRACE_FONT_DIR"
SYSTEM_DIR = Path("/") / FONT_MEMBER_DIR
KOREAN_FONT = "NanumGothic"
KOREAN_FONT_BOLD = "NanumGothic-Bold"


def font_dir() -> Path:
    """Where setup puts the fonts: ``$CCTRACE_FONT_DIR`` or ``<sys.prefix>/share/cctrace/fonts``."""
    env = os.environ.get(FONT_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(sys.prefix) / "share" / "cctrace" / "fonts"


def find_korean_fonts() -> tuple[Path, Path] | None:
    """(regular, bold) NanumGothic files from :func:`font_dir` or the system; None if absent."""
    for folder in (font_dir(), SYSTEM_DIR):
        regular, bold = folder / REGULAR, folder / BOLD
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


@functools.cache
def register_korean_fonts() -> tuple[str, str]:
    """Register NanumGothic with reportlab once; returns the (regular, bold) font names.

    Raises :class:`ConfigError` saying how to install it when it is missing.
    """
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    found = find_korean_fonts()
    if found is None:
        raise ConfigError(
            f"a Korean PDF needs the NanumGothic font ({FONT_PACKAGE}); it is not in "
            f"{font_dir()} or {SYSTEM_DIR}: run `bash scripts/setup.sh` or "
            "`python -m cctrace.report.fonts` once"
        )
    regular, bold = found
    pdfmetrics.registerFont(TTFont(KOREAN_FONT, str(regular)))
    pdfmetrics.registerFont(TTFont(KOREAN_FONT_BOLD, str(bold)))
    addMapping(KOREAN_FONT, 0, 0, KOREAN_FONT)
    addMapping(KOREAN_FONT, 1, 0, KOREAN_FONT_BOLD)
    addMapping(KOREAN_FONT, 0, 1, KOREAN_FONT)
    addMapping(KOREAN_FONT, 1, 1, KOREAN_FONT_BOLD)
    return KOREAN_FONT, KOREAN_FONT_BOLD


def fetch_fonts(directory: Path | None = None) -> list[Path]:
    """Put NanumGothic (regular, bold) and its licence into ``directory`` (default
    :func:`font_dir`), from ``apt-get download fonts-nanum``; files already there are
    kept. Returns the font paths; :class:`ConfigError` when apt cannot fetch it."""
    target = directory or font_dir()
    wanted = [target / REGULAR, target / BOLD]
    if all(p.is_file() and p.stat().st_size > 0 for p in wanted):
        return wanted
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise ConfigError(
                f"`{tool}` not found: the Korean PDF font comes from the Debian package "
                f"{FONT_PACKAGE}; copy {REGULAR} and {BOLD} into {target} by hand"
            )
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cctrace-fonts-") as tmp:
        work = Path(tmp)
        done = subprocess.run(
            ["apt-get", "download", FONT_PACKAGE],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = sorted(work.glob(f"{FONT_PACKAGE}_*.deb"))
        if done.returncode != 0 or not debs:
            detail = (done.stderr or done.stdout).strip().splitlines()
            reason = detail[-1] if detail else f"exit status {done.returncode}"
            raise ConfigError(
                f"`apt-get download {FONT_PACKAGE}` failed: {reason}. Refresh apt's lists "
                "(`sudo apt-get update`) and run setup again"
            )
        unpacked = work / "unpacked"
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True)
        for name in (REGULAR, BOLD):
            source = unpacked / FONT_MEMBER_DIR / name
            if not source.is_file():
                raise ConfigError(f"{debs[-1].name} holds no {name}; the package has changed")
            _check_digest(source, name)
            partial = target / (name + ".part")
            shutil.copyfile(source, partial)
            partial.replace(target / name)
        licence = unpacked / LICENSE_MEMBER
        if licence.is_file():
            shutil.copyfile(licence, target / "NanumGothic-COPYRIGHT.txt")
    register_korean_fonts.cache_clear()
    return wanted


def _check_digest(path: Path, name: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != FONT_SHA256[name]:
        log.warning("%s: sha256 %s differs from Debian bookworm's; another release?", name, digest)


def main(argv: list[str] | None = None) -> int:
    """``python -m cctrace.report.fonts [DIR]``: fetch the Korean PDF font."""
    parser = argparse.ArgumentParser(description="Fetch the Korean font of the PDF reports.")
    parser.add_argument("directory", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        paths = fetch_fonts(args.directory)
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    log.info("Korean PDF font ready: %s", ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
