"""The helpers of processes.py that find the peers' executables."""

from __future__ import annotations

import pytest

from .processes import MissingBinaryError, missing_binaries, require_binary


def test_missing_binary_points_to_setup() -> None:
    assert missing_binaries("kamailio", "kamcmd", "sipp") == []
    assert missing_binaries("no-such-peer-binary") == ["no-such-peer-binary"]
    with pytest.raises(MissingBinaryError, match="scripts/setup"):
        require_binary("no-such-peer-binary")
