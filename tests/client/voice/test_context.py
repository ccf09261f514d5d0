"""VoiceContext checks its settings when it is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.errors import ConfigError
from client.voice import VoiceContext


def test_settings_are_checked_and_the_token_provider_is_hidden(tmp_path: Path) -> None:
    context = VoiceContext(data_dir=tmp_path, token_provider=lambda: "tok-secret")
    assert "tok-secret" not in repr(context) and context.auth_mode == "bearer"
    assert context.dial_header == "X-Dial-Message"
    with pytest.raises(ConfigError, match="auth_mode"):
        VoiceContext(data_dir=tmp_path, auth_mode="basic")
    with pytest.raises(ConfigError, match="https"):
        VoiceContext(data_dir=tmp_path, feedback_url="http://127.0.0.1/feedback")
    with pytest.raises(ConfigError):
        VoiceContext(data_dir=tmp_path, log_max_bytes=0)
