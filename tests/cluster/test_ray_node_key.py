"""A Ray node must hold the ingest's data key: a node started without any key, or with
another, refuses its tasks before it writes anything, and never makes a key file of its
own in the (shared) data folder. The task bodies run here as a Ray worker runs them."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cctrace.cluster.ray_ingest import ClusterError, file_job, register_job
from cctrace.config import SiteConfig, load_site
from cctrace.store.repository import Store


def _key_file(path: Path) -> Path:
    path.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    path.chmod(0o600)
    return path


def _site_with_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[SiteConfig, int, str]:
    """A site whose store (keyed by the driver's key file) holds one registered file;
    the site, the file's id and the driver's key id."""
    (tmp_path / "site.yaml").write_text(
        "name: r\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{tmp_path / 'clip.mp4'}]\nstorage:\n  data_dir: data\n"
    )
    site = load_site(tmp_path / "site.yaml", check_files=False)
    monkeypatch.delenv("CCTRACE_DATA_KEY", raising=False)
    monkeypatch.setenv("CCTRACE_DATA_KEY_FILE", str(_key_file(tmp_path / "driver.key")))
    with Store.for_site(site) as store:
        store.cameras.upsert("cam1")
        start = datetime(2026, 3, 15, 8, tzinfo=UTC)
        record = store.footage.get_or_create(
            "cam1", str(tmp_path / "clip.mp4"), "b" * 64, 1, start, 2.0, 7.0
        )
        key_id = store.cipher.key_id
    return site, record.id, key_id


def test_a_node_without_a_data_key_refuses_and_makes_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, footage_id, key_id = _site_with_a_file(tmp_path, monkeypatch)
    monkeypatch.delenv("CCTRACE_DATA_KEY_FILE")  # `ray start` without the key
    with pytest.raises(ClusterError, match="no data key") as info:
        register_job(site, "cam1", False, key_id)
    assert "environment of `ray start`" in str(info.value)
    with pytest.raises(ClusterError, match="no data key"):
        file_job(site, "cam1", footage_id, key_id)
    assert not (site.storage.data_dir / "keys").exists()  # no stray key in the data folder


def test_a_node_with_another_key_refuses_to_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, _, key_id = _site_with_a_file(tmp_path, monkeypatch)
    monkeypatch.setenv("CCTRACE_DATA_KEY_FILE", str(_key_file(tmp_path / "other.key")))
    with pytest.raises(ClusterError, match="data key differs"):
        register_job(site, "cam1", False, key_id)
    monkeypatch.setenv("CCTRACE_DATA_KEY_FILE", str(tmp_path / "driver.key"))
    files, failed = register_job(site, "cam1", False, key_id)  # the right key: it runs
    assert not files and failed  # (clip.mp4 does not exist: a failed row, not an error)
