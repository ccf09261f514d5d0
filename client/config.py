"""Settings of a phone, as frozen dataclasses checked when they are made."""

from __future__ import annotations

from dataclasses import dataclass, field

from media.session import MediaConfig
from sipcore.errors import LocalProtocolError, ParseError
from sipcore.stack import parse_target
from sipcore.uri import SipUri, parse_uri

from .errors import ConfigError

__all__ = ["LISTEN_TRANSPORTS", "PhoneConfig", "parse_listen"]

LISTEN_TRANSPORTS = ("udp", "tcp", "ws")
"""Transports a phone can listen on for requests sent to it directly."""


def parse_listen(spec: str) -> tuple[str, str, int]:
    """(transport, host, port) of a listen address ``udp:host:port``, ``tcp:...`` or
    ``ws:...``; IPv6 hosts in brackets; port 0 picks a free one."""
    scheme, _, rest = spec.partition(":")
    host, _, port_text = rest.rpartition(":")
    if scheme.lower() not in LISTEN_TRANSPORTS or not host or not port_text.isdigit():
        raise ConfigError(f"listen: expected udp|tcp|ws:host:port, got {spec!r}")
    port = int(port_text)
    if port > 65535:
        raise ConfigError(f"listen: port out of range in {spec!r}")
    return scheme.lower(), host.strip("[]"), port


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneConfig:
    """One SIP account and how its calls behave. ``aor`` is required, and ``server`` or
    ``listen`` (or both)."""

    aor: str
    """Address of record, e.g. ``sip:alice@example.com``."""
    server: str | None = None
    """Where to connect: ``wss://host:port/path``, ``ws://...``, ``tls:host:port``,
    ``tcp:host:port`` or ``udp:host:port``. None: no registrar; the phone takes requests sent
    to its ``listen`` addresses and dials SIP URIs directly."""
    listen: tuple[str, ...] = ()
    """Addresses to take requests on, sent without a server (``udp:127.0.0.1:5070``,
    ``tcp:...``, ``ws:...``; see :func:`parse_listen`)."""
    password: str | None = field(default=None, repr=False)
    """Digest password (kept out of repr and logs)."""
    auth_user: str | None = None
    """Digest user name when it differs from the AOR user."""
    display_name: str | None = None
    ca_file: str | None = None
    """Extra CA certificates for the server's TLS certificate (e.g. a private CA)."""
    tls_verify: bool = True
    """Verify the server certificate; switching it off is explicit."""
    register_expires: int = 600
    auto_reconnect: bool = True
    """Reconnect and register again, with jittered backoff, when the connection fails or is
    lost; off: the registration ends (``terminated``) and stays down until registered again."""
    user_agent: str = "sipwebrtc"
    media: MediaConfig = field(default_factory=MediaConfig)
    multi_call: bool = False
    """Several calls at once. Off (the default): a second incoming call is answered 486 Busy
    Here and reported as a missed call."""
    auto_ring: bool = True
    """Answer incoming INVITEs with 180 Ringing at once."""
    media_timeout: float = 10.0
    """Seconds without inbound RTP (while the peer should send) before the media counts as
    disrupted and is renewed; 0 turns the watchdog off."""
    media_renewals: int = 3
    """Attempts to renew the media (a fresh ICE/DTLS session by re-INVITE) before the call ends
    with a media-timeout reason."""
    follow_transfers: bool = True
    """Act on a peer's REFER (RFC 3515): call the target and report progress by NOTIFY;
    off: answer 603 Decline."""
    answer_timeout: float = 15.0
    """Longest wait for the answer to a re-INVITE we send (hold, resume, renewal)."""
    flow_recovery_timeout: float = 30.0
    """Seconds an established call is kept after its signalling connection is lost, while
    the account reconnects (needs ``auto_reconnect``); past it the call ends with
    ``connection_lost``. 0: calls end with their connection."""

    def __post_init__(self) -> None:
        try:
            uri = parse_uri(self.aor)
        except ParseError as exc:
            raise ConfigError(f"aor: not a SIP URI: {self.aor!r} ({exc})") from None
        if not isinstance(uri, SipUri) or not uri.user:
            raise ConfigError(f"aor: a SIP URI with a user part is needed, got {self.aor!r}")
        if self.server is None and not self.listen:
            raise ConfigError("server or listen: a phone needs a server or a listen address")
        if self.server is not None:
            try:
                parse_target(self.server)
            except (LocalProtocolError, ValueError) as exc:
                raise ConfigError(f"server: {exc}") from None
        for spec in self.listen:
            parse_listen(spec)
        if self.register_expires < 0:
            raise ConfigError("register_expires: must be >= 0")
        if self.media_timeout < 0 or self.media_renewals < 0 or self.answer_timeout <= 0:
            raise ConfigError("media_timeout, media_renewals and answer_timeout must be positive")
        if self.flow_recovery_timeout < 0:
            raise ConfigError("flow_recovery_timeout: must be >= 0")

    @property
    def uri(self) -> SipUri:
        uri = parse_uri(self.aor)
        assert isinstance(uri, SipUri)
        return uri
