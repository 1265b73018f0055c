"""Expanding a camera's footage spec into video files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cctrace.errors import FootageError
from cctrace.footage.sources import expand_footage, expand_sources, natural_key


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """cam1/ with videos (mixed-case extensions, nested, hidden) and non-videos."""
    files = [
        "cam1/cam1_2.mp4",
        "cam1/cam1_10.MP4",
        "cam1/cam1_1.avi",
        "cam1/day2/cam1_3.mkv",
        "cam1/day2/clip.Mov",
        "cam1/day2/x.ts",
        "cam1/day2/y.m4v",
        "cam1/day2/z.h264",
        "cam1/notes.txt",
        "cam1/thumb.jpg",
        "cam1/._cam1_2.mp4",  # macOS resource fork
        "cam1/.trash/old.mp4",
        "cam2/a.mp4",
        "cam2/recording.dav",
        "empty/",
    ]
    for name in files:
        path = tmp_path / name
        if name.endswith("/"):
            path.mkdir(parents=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root.resolve()).as_posix() for p in paths]


def test_folder_is_searched_recursively_in_natural_order(tree: Path) -> None:
    assert names(expand_footage(tree / "cam1"), tree) == [
        "cam1/cam1_1.avi",
        "cam1/cam1_2.mp4",
        "cam1/cam1_10.MP4",
        "cam1/day2/cam1_3.mkv",
        "cam1/day2/clip.Mov",
        "cam1/day2/x.ts",
        "cam1/day2/y.m4v",
        "cam1/day2/z.h264",
    ]


def test_folder_without_recursion(tree: Path) -> None:
    got = names(expand_footage([tree / "cam1"], recursive=False), tree)
    assert got == ["cam1/cam1_1.avi", "cam1/cam1_2.mp4", "cam1/cam1_10.MP4"]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["cam1/*.mp4"], ["cam1/cam1_2.mp4"]),  # glob case follows the file system
        (["cam1/*.[mM][pP]4"], ["cam1/cam1_2.mp4", "cam1/cam1_10.MP4"]),
        (["cam1/**/*.mkv"], ["cam1/day2/cam1_3.mkv"]),
        (["cam*"], None),  # folders matched by a glob are expanded
        (["cam2/a.mp4", "cam2", "cam2/../cam2/a.mp4"], ["cam2/a.mp4"]),  # no duplicates
        (["cam2/recording.dav"], ["cam2/recording.dav"]),  # explicit file: kept as named
        (["cam1/day2/z.h264", "cam1/cam1_1.avi"], ["cam1/cam1_1.avi", "cam1/day2/z.h264"]),
    ],
)
def test_specs_relative_to_a_base_dir(
    tree: Path, specs: list[str], expected: list[str] | None
) -> None:
    got = names(expand_footage(specs, base_dir=tree), tree)
    if expected is None:
        assert len(got) == 9 and "cam2/a.mp4" in got and "cam2/recording.dav" not in got
    else:
        assert got == expected


def test_single_string_spec(tree: Path) -> None:
    assert names(expand_footage(str(tree / "cam2")), tree) == ["cam2/a.mp4"]
    assert expand_sources is expand_footage


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["nowhere"], r"footage path .*nowhere does not exist"),
        (["cam1", "cam9/*.mp4"], r"pattern .*cam9/\*\.mp4 matches no file"),
        (["empty"], r"no video files found in empty"),
        ([], r"no video files found in an empty footage list"),
    ],
)
def test_missing_paths_raise(tree: Path, specs: list[str], message: str) -> None:
    with pytest.raises(FootageError, match=message):
        expand_footage(specs, base_dir=tree)


def test_natural_key() -> None:
    paths = [Path(p) for p in ["c10.mp4", "c9.mp4", "b.mp4", "c09b.mp4"]]
    assert [p.name for p in sorted(paths, key=natural_key)] == [
        "b.mp4",
        "c9.mp4",
        "c09b.mp4",
        "c10.mp4",
    ]
