"""The command line: the site file given either way, and errors as one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SITE = """\
name: cli-test
cameras:
  - id: cam1
    location: {x_m: 0, y_m: 0}
    footage: [clip.mp4]
    start_time: 2026-03-15T08:00:00Z
"""


def _cctrace(
    *args: str, cwd: Path, env: dict[str, str] | None = None, columns: str | None = "200"
) -> subprocess.CompletedProcess[str]:
    """Run ``cctrace`` in a subprocess (output piped); ``$CCTRACE_SITE`` only from ``env``,
    ``$COLUMNS`` set unless ``columns`` is None."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("CCTRACE_SITE", "COLUMNS")}
    if columns is not None:
        full_env["COLUMNS"] = columns
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cctrace.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    (tmp_path / "clip.mp4").write_bytes(b"not checked by validate")
    (tmp_path / "mysite.yaml").write_text(SITE)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["site", "validate", "mysite.yaml"], None),
        (["site", "validate", "--site", "mysite.yaml"], None),
        (["site", "validate"], {"CCTRACE_SITE": "mysite.yaml"}),
    ],
)
def test_site_file_by_argument_option_or_environment(
    site_dir: Path, args: list[str], env: dict[str, str] | None
) -> None:
    done = _cctrace(*args, cwd=site_dir, env=env)
    assert done.returncode == 0, done.stderr
    assert "cli-test" in done.stdout and "OK" in done.stdout


def test_two_different_site_files_is_an_error(site_dir: Path) -> None:
    done = _cctrace("status", "mysite.yaml", "--site", "other.yaml", cwd=site_dir)
    assert done.returncode == 2
    assert "two site files" in done.stderr


@pytest.mark.parametrize(
    "text",
    [
        "cameras: [\n  - id: [cam\n",  # a YAML error whose message holds brackets
        "name: caf\xe9\ncameras: []\n",  # not UTF-8 (written as Latin-1 below)
    ],
)
def test_broken_site_files_give_one_clear_line(site_dir: Path, text: str) -> None:
    (site_dir / "bad.yaml").write_bytes(text.encode("latin-1"))
    done = _cctrace("site", "validate", "bad.yaml", cwd=site_dir)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "bad.yaml" in done.stderr and "error" in done.stderr


def test_piped_output_is_not_wrapped_or_cut(site_dir: Path) -> None:
    long_name = "a site name long enough to be wrapped at eighty columns " * 3
    (site_dir / "long.yaml").write_text(SITE.replace("cli-test", long_name.strip()))
    done = _cctrace("site", "validate", "long.yaml", cwd=site_dir, columns=None)
    assert done.returncode == 0, done.stderr
    assert long_name.strip() in done.stdout  # on one line, whole
    assert "…" not in done.stdout


def test_validate_says_where_start_times_come_from_and_warns_past_retention(
    site_dir: Path,
) -> None:
    done = _cctrace("site", "validate", "mysite.yaml", cwd=site_dir)
    assert done.returncode == 0, done.stderr
    assert "2026-03-15T08:00:00+00:00 (config)" in done.stdout
    assert "more than 28 days ago" in done.stderr


def test_validate_refuses_footage_whose_start_cannot_be_told(site_dir: Path) -> None:
    import numpy as np

    from cctrace.footage.writer import write_video

    write_video(site_dir / "clip.mp4", [np.zeros((64, 64, 3), np.uint8)] * 5, 5)
    (site_dir / "nostart.yaml").write_text(
        SITE.replace("    start_time: 2026-03-15T08:00:00Z\n", "")
    )
    done = _cctrace("site", "validate", "nostart.yaml", cwd=site_dir)
    assert done.returncode == 2, done.stdout
    assert "start_time" in done.stderr and "Traceback" not in done.stderr


def test_data_files_are_private_to_the_service_account(site_dir: Path) -> None:
    import stat

    text = SITE + "storage:\n  data_dir: data\n"
    (site_dir / "private.yaml").write_text(text)
    done = _cctrace("status", "private.yaml", cwd=site_dir)
    assert done.returncode == 0, done.stderr
    data = site_dir / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files
    ]


def test_site_validate_warns_when_cameras_disagree_on_the_time_zone(tmp_path: Path) -> None:
    import numpy as np

    from cctrace.footage.writer import write_video

    clip = tmp_path / "cam_20991231_120000.mp4"
    frames = (np.full((64, 64, 3), 40 * i, np.uint8) for i in range(5))
    write_video(clip, frames, 5)
    site = tmp_path / "site.yaml"
    site.write_text(
        "cameras:\n"
        f"  - {{id: a, location: {{x_m: 0, y_m: 0}}, footage: [{clip}], timezone: Asia/Seoul}}\n"
        f"  - {{id: b, location: {{x_m: 5, y_m: 0}}, footage: [{clip}], timezone: Europe/Berlin}}\n"
    )
    result = _cctrace("site", "validate", str(site), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "different time zones" in result.stderr
