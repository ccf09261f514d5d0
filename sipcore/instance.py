"""The RFC 5626 §4.1 instance ID: one UUID URN per installation, kept in a file."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

_URN = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def default_path() -> Path:
    """``$XDG_STATE_HOME/sipwebrtc/instance-id`` (``~/.local/state`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sipwebrtc" / "instance-id"


def instance_id(path: str | os.PathLike[str] | None = None) -> str:
    """The installation's ``urn:uuid:...``: read from ``path``, or created there (RFC 4122
    version 4) when the file is missing or does not hold one."""
    file = Path(path) if path is not None else default_path()
    try:
        text = file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    if _URN.fullmatch(text):
        return text
    value = f"urn:uuid:{uuid.uuid4()}"
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(value + "\n", encoding="ascii")
    tmp.replace(file)  # atomic: two processes starting at once keep one of the two values
    return value
