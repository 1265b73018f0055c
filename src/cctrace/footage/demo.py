"""The demo footage: PETS2009 S2L1 View_001, fetched without root from Debian's opencv-doc.

Debian and Ubuntu ship the clip as ``usr/share/doc/opencv-doc/examples/data/vtest.avi``
inside the ``opencv-doc`` package (bookworm 4.6.0+dfsg-12: 8,131,690 bytes, MS-MPEG4
768x576, 795 frames, container 10 fps; the scene was recorded at about 7 fps, hence
``DEMO_SOURCE_FPS``). :func:`fetch_demo_video` runs ``apt-get download opencv-doc``
into a cache folder (no root needed), extracts just that file with ``dpkg-deb`` and
keeps it there; later calls reuse it.

Footage (c) University of Reading, PETS 2009, free for academic and industrial
research with credit.
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cctrace.errors import FootageError
from cctrace.footage.timing import sha256_file

log = logging.getLogger(__name__)

DEMO_PACKAGE = "opencv-doc"
VTEST_MEMBER = "usr/share/doc/opencv-doc/examples/data/vtest.avi"
"""Where the clip sits inside the package (also kept under the cache folder)."""
VTEST_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
"""SHA-256 of vtest.avi in Debian bookworm's opencv-doc 4.6.0+dfsg-12."""
DEMO_CAMERA_ID = "pets2009-view001"
DEMO_SOURCE_FPS = 7.0
"""The rate the scene was recorded at; the container says 10 fps."""
DEMO_START_TIME = datetime(2009, 1, 1, 12, 34, tzinfo=UTC)
"""Nominal start: PETS2009 names the sequence ``Time_12-34``; the date is a placeholder."""

SHARED_DEMO_RELPATH = Path("pets2009-s2l1") / "view001.mp4"
"""The H.264 re-encode of vtest.avi in the project's shared reference data."""

DEMO_GROUND_POINTS: tuple[tuple[float, float, float, float], ...] = (
    # (u_px, v_px, x_m, y_m): image point of View_001 (768x576) -> ground plane, metres.
    # 12 of the 48 grid points that PETS2009 View_001's Tsai calibration (via the
    # OpenTraj repository, MIT licence) maps to the ground: rows v = 160, 320, 560 and
    # columns u = 40, 237.1, 532.9, 730. A homography fitted to these 12 reproduces all
    # 48 with median error 4 cm, max 17 cm (the residue is lens distortion).
    (40.0, 160.0, -1.474, 12.133),
    (237.1, 160.0, 0.819, 5.076),
    (532.9, 160.0, 4.101, -4.011),
    (730.0, 160.0, 6.312, -9.536),
    (40.0, 320.0, -14.105, -1.868),
    (237.1, 320.0, -12.320, -5.500),
    (532.9, 320.0, -9.872, -10.563),
    (730.0, 320.0, -8.326, -13.812),
    (40.0, 560.0, -20.724, -9.153),
    (237.1, 560.0, -19.475, -11.245),
    (532.9, 560.0, -17.772, -14.295),
    (730.0, 560.0, -16.720, -16.312),
)


def demo_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$CCTRACE_DEMO_CACHE``, else ``$XDG_CACHE_HOME/cctrace/demo``
    (``~/.cache/cctrace/demo``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if env := os.environ.get("CCTRACE_DEMO_CACHE"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "cctrace" / "demo"


def shared_demo_video(shared_data: str | Path | None = None) -> Path | None:
    """The shared re-encode ``pets2009-s2l1/view001.mp4`` if present, else None.

    Looked up in ``shared_data``, else ``$CCTRACE_SHARED_DATA``, else ``../shared/data``
    next to a source checkout.
    """
    roots: list[Path] = []
    if shared_data is not None:
        roots.append(Path(shared_data))
    elif env := os.environ.get("CCTRACE_SHARED_DATA"):
        roots.append(Path(env))
    else:
        repo_root = Path(__file__).resolve().parents[3]
        roots.append(repo_root.parent / "shared" / "data")
    for root in roots:
        candidate = root.expanduser() / SHARED_DEMO_RELPATH
        if candidate.is_file():
            return candidate
    return None


def fetch_demo_video(
    cache_dir: str | Path | None = None,
    *,
    prefer_shared: bool = False,
    shared_data: str | Path | None = None,
    keep_deb: bool = False,
) -> Path:
    """Path of the PETS2009 View_001 demo clip, downloading it once if needed.

    By default this is ``vtest.avi`` from the ``opencv-doc`` package, fetched with
    ``apt-get download`` into :func:`demo_cache_dir` and cached (``<cache>/<VTEST_MEMBER>``).
    With ``prefer_shared``, the shared data's ``view001.mp4`` is used when present
    (see :func:`shared_demo_video`). The ``.deb`` (about 96 MB) is deleted after
    extraction unless ``keep_deb``. Raises :class:`FootageError` with what to run when
    apt cannot fetch the package.
    """
    if prefer_shared:
        shared = shared_demo_video(shared_data)
        if shared is not None:
            log.info("demo footage: using shared data %s", shared)
            return shared
        log.info("demo footage: shared data not found; using the %s package", DEMO_PACKAGE)
    cache = demo_cache_dir(cache_dir)
    target = cache / VTEST_MEMBER
    if target.is_file() and target.stat().st_size > 0:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    deb = _download_deb(cache)
    _extract_member(deb, target)
    if not keep_deb:
        deb.unlink(missing_ok=True)
    digest = sha256_file(target)
    if digest != VTEST_SHA256:
        log.warning(
            "%s: sha256 %s differs from Debian bookworm's (%s); another release of the clip?",
            target,
            digest,
            VTEST_SHA256,
        )
    log.info("demo footage ready: %s (%d bytes)", target, target.stat().st_size)
    return target


def _run(cmd: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which(cmd[0]) is None:
        raise FootageError(
            f"`{cmd[0]}` not found: the demo footage comes from the Debian/Ubuntu package "
            f"{DEMO_PACKAGE}; on other systems pass a video file of your own"
        )
    log.info("running %s in %s", " ".join(cmd), cwd)
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)


def _download_deb(cache: Path) -> Path:
    for stale in cache.glob(f"{DEMO_PACKAGE}_*.deb"):
        stale.unlink()  # maybe a broken earlier download: fetch afresh
    done = _run(["apt-get", "download", DEMO_PACKAGE], cache)
    debs = sorted(cache.glob(f"{DEMO_PACKAGE}_*.deb"))
    if done.returncode != 0 or not debs:
        detail = (done.stderr or done.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit status {done.returncode}"
        raise FootageError(
            f"`apt-get download {DEMO_PACKAGE}` failed in {cache}: {reason}. If apt cannot "
            f"find the package, refresh its lists first: `sudo apt-get update` (needs the "
            f"network), then run the demo again. Or pass your own footage file."
        )
    return debs[-1]


def _extract_member(deb: Path, target: Path) -> None:
    """Extract ``VTEST_MEMBER`` (or a ``.gz`` of it) from ``deb`` to ``target``, atomically."""
    if shutil.which("dpkg-deb") is None:
        raise FootageError("`dpkg-deb` not found; it is needed to unpack the demo package")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    wanted = {f"./{VTEST_MEMBER}", VTEST_MEMBER}
    wanted_gz = {name + ".gz" for name in wanted}
    # Reading stops at the member, so dpkg-deb may die of a broken pipe: silence it.
    with subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        stdout = proc.stdout
        if stdout is None:
            raise FootageError(f"{deb}: dpkg-deb gave no output")
        try:
            found = _copy_from_tar(stdout, wanted, wanted_gz, partial)
        except (tarfile.TarError, EOFError, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise FootageError(f"{deb}: cannot unpack ({exc}); delete it and retry") from exc
        finally:
            stdout.close()
            proc.wait()
    if proc.returncode not in (0, None) and not found:
        raise FootageError(f"{deb}: dpkg-deb failed (exit status {proc.returncode})")
    if not found:
        partial.unlink(missing_ok=True)
        raise FootageError(f"{deb}: holds no {VTEST_MEMBER}; the package layout has changed")
    partial.replace(target)


def _copy_from_tar(stream: IO[bytes], wanted: set[str], wanted_gz: set[str], out: Path) -> bool:
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            if member.name not in wanted | wanted_gz or not member.isfile():
                continue
            source = tar.extractfile(member)
            if source is None:
                return False
            with out.open("wb") as sink:
                if member.name in wanted_gz:
                    with gzip.open(source) as unzipped:
                        shutil.copyfileobj(unzipped, sink, 1 << 20)
                else:
                    shutil.copyfileobj(source, sink, 1 << 20)
            return True
    return False


def write_demo_ground_points(path: str | Path) -> Path:
    """Write the View_001 image -> ground correspondences as CSV ``u_px,v_px,x_m,y_m``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["u_px", "v_px", "x_m", "y_m"])
        writer.writerows(DEMO_GROUND_POINTS)
    return path
