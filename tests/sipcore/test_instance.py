from __future__ import annotations

from pathlib import Path

import pytest

from sipcore.instance import default_path, instance_id


def test_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "instance-id"
    first = instance_id(path)
    assert first.startswith("urn:uuid:")
    assert instance_id(path) == first
    assert path.read_text().strip() == first


def test_replaces_garbage(tmp_path: Path) -> None:
    path = tmp_path / "instance-id"
    path.write_text("not a urn")
    assert instance_id(path) != "not a urn"


def test_default_path_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_path() == tmp_path / "sipwebrtc" / "instance-id"
