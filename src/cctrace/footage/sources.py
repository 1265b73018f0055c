"""Expand a camera's footage spec (files, folders, glob patterns) into video files."""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from cctrace.errors import FootageError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".avi", ".mkv", ".mov", ".ts", ".m4v", ".h264"}
)
"""File extensions taken as video when expanding folders and globs (case-insensitive)."""

_GLOB_CHARS = re.compile(r"[*?\[]")
_DIGITS = re.compile(r"(\d+)")


def is_video_file(path: Path) -> bool:
    """True for a regular, non-hidden file with a video extension (any case)."""
    return (
        path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )


def natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders numbers by value: ``cam_2.mp4`` before ``cam_10.mp4``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(str(path)) if part
    )


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _videos_in(folder: Path, recursive: bool) -> list[Path]:
    entries = folder.rglob("*") if recursive else folder.iterdir()
    try:
        found = [p for p in entries if is_video_file(p) and not _hidden(p.relative_to(folder))]
    except OSError as exc:  # a symbolic link loop, a folder that vanished, no permission
        raise FootageError(f"cannot list footage folder {folder}: {exc}") from exc
    if not found:
        kinds = ", ".join(sorted(VIDEO_EXTENSIONS))
        log.warning("%s: folder holds no video files (%s)", folder, kinds)
    return found


def _expand_one(spec: Path, recursive: bool) -> list[Path]:
    if _GLOB_CHARS.search(str(spec)):
        matches = [Path(m) for m in glob.glob(str(spec), recursive=True)]
        if not matches:
            raise FootageError(f"footage pattern {spec} matches no file or folder")
        files: list[Path] = []
        for match in matches:
            if match.is_dir():
                files.extend(_videos_in(match, recursive))
            elif is_video_file(match):
                files.append(match)
        return files
    if spec.is_dir():
        return _videos_in(spec, recursive)
    if spec.is_file():
        if spec.suffix.lower() not in VIDEO_EXTENSIONS:
            log.warning("%s: listed explicitly but has no video extension; using it anyway", spec)
        return [spec]
    if spec.exists():
        raise FootageError(f"footage path {spec} is neither a file nor a folder")
    raise FootageError(f"footage path {spec} does not exist")


def expand_footage(
    specs: str | Path | Sequence[str | Path],
    base_dir: str | Path | None = None,
    recursive: bool = True,
) -> list[Path]:
    """Video files named by ``specs``, resolved, without duplicates, in natural order.

    Each spec is a file (kept whatever its extension), a folder (its video files,
    searched recursively unless ``recursive`` is False; hidden files skipped), or a
    glob pattern (``*``, ``?``, ``[...]``, ``**``). Relative specs are taken from
    ``base_dir`` (e.g. the site config's folder) when given. A missing path or a
    pattern that matches nothing raises :class:`FootageError`, and so does a spec
    list that yields no video file at all.
    """
    items: Iterable[str | Path] = [specs] if isinstance(specs, str | Path) else specs
    base = Path(base_dir) if base_dir is not None else None
    seen: dict[Path, None] = {}
    for item in items:
        spec = Path(item).expanduser()
        if base is not None and not spec.is_absolute():
            spec = base / spec
        for path in _expand_one(spec, recursive):
            seen.setdefault(path.resolve(), None)
    if not seen:
        listed = ", ".join(str(s) for s in items)
        raise FootageError(f"no video files found in {listed or 'an empty footage list'}")
    return sorted(seen, key=natural_key)


expand_sources = expand_footage
"""Alias of :func:`expand_footage`."""
