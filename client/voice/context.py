"""The ``context`` of :func:`client.voice.initialize`: what an Android app gets from its
``Context`` and from the SDK's configuration, as one frozen dataclass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from client.errors import ConfigError
from media.session import MediaConfig
from media.tracks import FrameSink
from sipcore.push import PushParams

__all__ = ["TokenProvider", "VoiceContext"]

TokenProvider = Callable[[], "str | Awaitable[str]"]
"""Gives a fresh subscriber token (plain or async), e.g. from the application backend."""


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceContext:
    """Where the SDK keeps its files, how it reaches the platform, and its hooks."""

    data_dir: Path
    """The app's private files: the rotating log ``voice.log`` lives here."""
    ca_file: str | None = None
    """Extra CA certificates for the SIP server and the HTTPS endpoints (a private CA)."""
    tls_verify: bool = True
    """Verify server certificates (SIP over TLS/WSS and HTTPS); off only explicitly."""
    sip_domain: str | None = None
    """Domain of the subscriber's AOR; defaults to the host of ``hostname``."""
    auth_mode: str = "bearer"
    """How the subscriber token authenticates the REGISTER: ``bearer`` (RFC 8898
    ``Authorization: Bearer``), or ``digest`` for servers without Bearer support (Kamailio):
    the token is then the digest password of the subscriber name."""
    token_provider: TokenProvider | None = field(default=None, repr=False)
    """Asked for a fresh token when the platform says the token expired; the client then
    registers again by itself. Without it an expired token is reported by
    ``onAuthenticationFailure``."""
    log_upload_url: str | None = None
    """HTTPS endpoint ``uploadLogs`` posts to."""
    feedback_url: str | None = None
    """HTTPS endpoint ``postFeedback`` posts to."""
    media: MediaConfig = field(default_factory=MediaConfig)
    """ICE servers and candidate addresses of the calls."""
    push: PushParams | None = None
    """RFC 8599 push parameters the REGISTER carries (the app's FCM/APNs registration)."""
    speaker_sink: FrameSink | None = None
    """Where received audio goes with the speaker on; None: the output device named
    ``speaker_device`` when sounddevice is installed, else nowhere."""
    earpiece_sink: FrameSink | None = None
    """Where received audio goes with the speaker off (the default route)."""
    speaker_device: int | str | None = None
    earpiece_device: int | str | None = None
    log_max_bytes: int = 1_000_000
    """Size at which ``voice.log`` rotates."""
    log_backups: int = 3
    """Rotated files kept (``voice.log.1`` ...)."""
    log_level: str = "DEBUG"
    """Level of the on-disk log (credentials are redacted at every level)."""
    dial_header: str = "X-Dial-Message"
    """Header that carries the ``message`` of ``dial`` to the platform (its dial-whom
    lookup)."""
    account_header: str | None = "X-Account-Sid"
    """Header that carries the ``accountSid`` of ``initialize`` in every REGISTER and INVITE,
    so that a multi-tenant platform finds the subscriber in the right account (its
    subscriber API and dial-whom URL are per account); None leaves it out."""
    media_timeout: float = 10.0
    """Seconds without received audio before a call's media counts as disrupted
    (``onMediaDisrupted``) and is renewed (``onRenewingMedia``); 0 turns the watchdog off."""
    media_renewals: int = 3
    """Attempts to renew disrupted media before the call ends."""
    register_timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.auth_mode not in ("bearer", "digest"):
            raise ConfigError(f"auth_mode: bearer or digest, got {self.auth_mode!r}")
        for name in ("log_upload_url", "feedback_url"):
            url = getattr(self, name)
            if url is not None and not url.lower().startswith("https://"):
                raise ConfigError(f"{name}: an https:// URL is needed")
        if self.log_max_bytes <= 0 or self.log_backups < 0:
            raise ConfigError("log_max_bytes must be > 0 and log_backups >= 0")
