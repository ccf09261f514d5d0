"""A WebRTC audio session on aiortc for one SIP call: offer/answer bodies in, audio in and out.

aiortc gathers ICE candidates inside ``setLocalDescription``, so every SDP this module gives is
complete (no trickle), which is what SIP offer/answer needs (RFC 3264). Gathering is bounded in
time (aiortc waits 5 s for a STUN server that does not answer).

Host candidates: aioice offers every interface address except loopback. ``host_addresses`` in
:class:`MediaConfig` restricts (or, with ``("127.0.0.1",)``, sets) the addresses a session
offers; the choice is scoped to that session's gathering through a context variable, so
sessions with different settings can gather at the same time.

A session closed while aioice's ``Connection.connect()`` still runs would leave a consent
freshness task running for ever (see ``_query_consent``); it is not started on a closed
connection.

Relay-only ICE: ``ice_transport_policy="relay"`` in :class:`MediaConfig` goes to aiortc's
``RTCConfiguration.iceTransportPolicy``, which aioice's ``Connection`` applies: it gathers
no host or server-reflexive candidate and pairs only its relayed ones.

The audio itself runs through :mod:`media.engine` (our RTP/SRTP path, one pacing clock for
every call of the event loop): aiortc keeps SDP, ICE and the DTLS handshake, its transceiver
has no track, and its RTCRtpSender/Receiver loops are stopped once they start.

Sources and sinks of audio are in :mod:`media.tracks`; ``ToneTrack`` is re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fractions
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Literal

import aioice.ice
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from .call_media import CallMedia
from .engine import AudioStream, DtmfUnavailable, PcmSource
from .offer_answer import NegotiatedAudio, require_srtp
from .stats import CallStats
from .tracks import ToneTrack, TrackPcm, _gives_pcm, _pcm_frame

__all__ = ["MediaConfig", "MediaSession", "ToneTrack", "host_addresses"]

_HOST_ADDRESSES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "host_addresses", default=None
)
_original_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """aioice's address lookup, narrowed to the addresses of the gathering session, if set."""
    wanted = _HOST_ADDRESSES.get()
    if wanted is None:
        return _original_host_addresses(use_ipv4, use_ipv6)
    return [a for a in wanted if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


aioice.ice.get_host_addresses = _host_addresses  # consults the context variable above

_original_query_consent = aioice.ice.Connection.query_consent


async def _query_consent(self: aioice.ice.Connection) -> None:
    """aioice's consent freshness checks (RFC 7675), never started on a closed connection.

    ``Connection.close()`` cancels the task first, then waits for the checks and sockets to
    close. A ``connect()`` whose check list completed just before (a call hung up soon after
    it was answered) returns meanwhile and starts the task, which then loops for ever over the
    emptied nominated pairs, keeping the connection alive."""
    if getattr(self, "_closing", False):
        return
    await _original_query_consent(self)


aioice.ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]


@contextlib.contextmanager
def host_addresses(addresses: tuple[str, ...] | None) -> Iterator[None]:
    """Within the block, ICE gathering in this context (e.g. an ``RTCIceGatherer``) offers
    host candidates only on ``addresses``; None: every interface but loopback."""
    token = _HOST_ADDRESSES.set(addresses)
    try:
        yield
    finally:
        _HOST_ADDRESSES.reset(token)


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """How a session gathers candidates and what it offers."""

    ice_servers: tuple[RTCIceServer, ...] = ()
    """STUN and TURN servers (none by default: host candidates only)."""
    host_addresses: tuple[str, ...] | None = None
    """Addresses for host candidates; None offers every interface but loopback (aioice's way);
    ``("127.0.0.1",)`` keeps a call on loopback."""
    gather_timeout: float = 2.0
    """Longest wait for gathering with the ICE servers; past it the session offers host
    candidates only (seconds)."""
    telephone_event: bool = True
    """Offer RFC 4733 telephone-event (8000 Hz, and 48000 Hz beside Opus)."""
    codecs: tuple[str, ...] = ("opus", "G722", "PCMU", "PCMA")
    """Audio codecs offered and accepted, most preferred first (names as in SDP rtpmap,
    case-insensitive): Opus, G.722, PCMU and PCMA (:mod:`media.codecs`)."""
    ice_transport_policy: Literal["all", "relay"] = "all"
    """"relay" gathers, offers and uses only TURN relayed candidates, so no host or
    server-reflexive address is revealed (RFC 9429 §4.1.1); needs a TURN server in
    ``ice_servers``, and never falls back to host candidates."""

    def __post_init__(self) -> None:
        codec_preferences(self.codecs)  # every name must be a codec aiortc has

    def __repr__(self) -> str:
        # TURN credentials stay out of logs and tracebacks
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["ice_servers"] = tuple(
            replace(s, credential="***") if s.credential else s for s in self.ice_servers
        )
        return f"MediaConfig({', '.join(f'{k}={v!r}' for k, v in values.items())})"


def codec_preferences(names: tuple[str, ...]) -> list[RTCRtpCodecCapability]:
    """aiortc's audio codecs in the order of ``names``; ValueError for a name it lacks."""
    available = RTCRtpSender.getCapabilities("audio").codecs
    chosen = []
    for name in names:
        found = [c for c in available if c.mimeType.lower() == f"audio/{name.lower()}"]
        if not found:
            known = ", ".join(c.mimeType.split("/")[1] for c in available)
            raise ValueError(f"codec {name!r} is not available (available: {known})")
        chosen += found
    return chosen


class MediaSession:
    """The media of one call: an RTCPeerConnection with one audio transceiver (SDP, ICE and
    DTLS) and an engine stream (:class:`media.engine.AudioStream`) carrying the audio."""

    def __init__(self, config: MediaConfig | None = None, source: MediaStreamTrack | None = None):
        self.config = config or MediaConfig()
        self.source: MediaStreamTrack = source or ToneTrack(0.0)
        self._pull = _pcm_source(self.source)
        self._on_frame: Callable[[AudioFrame], None] | None = None
        self.wants_frames: Callable[[], bool] | None = None
        """When set, received frames are built for :attr:`on_frame` only while it returns
        true (the audio is decoded all the same, so the decoder state stays continuous)."""
        self.gathering_fell_back = False
        self._negotiated = False  # a description was made: no more fresh starts
        self.call_media = CallMedia(self.config.telephone_event)
        """telephone-event in the SDP, the negotiated formats and the received digits."""
        self.stream: AudioStream | None = None
        """The engine stream of the audio, once negotiated."""
        self.pc = self._peer_connection(self.config.ice_servers)

    def _peer_connection(self, ice_servers: tuple[RTCIceServer, ...]) -> RTCPeerConnection:
        policy = RTCIceTransportPolicy(self.config.ice_transport_policy)
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=list(ice_servers), iceTransportPolicy=policy)
        )
        # no track for aiortc: the engine sends (aiortc would also stop a track it was given)
        self.transceiver = pc.addTransceiver("audio", direction="sendrecv")
        self.transceiver.setCodecPreferences(codec_preferences(self.config.codecs))
        return pc

    # -- offer/answer (RFC 3264) -----------------------------------------------------------------
    async def create_offer(self) -> bytes:
        """A complete SDP offer (candidates included)."""
        return await self._describe(None)

    async def create_answer(self, offer: bytes) -> bytes:
        """Apply a remote offer and return the complete answer."""
        return await self._describe(offer)

    async def set_answer(self, answer: bytes) -> None:
        require_srtp(answer)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer.decode(), "answer"))
        self._negotiated_audio(self.call_media.negotiated(answer))

    async def reoffer(self, direction: str = "sendrecv") -> bytes:
        """A new offer in the established session with our audio ``direction`` (RFC 3264 §8.4:
        sendonly or inactive puts the peer on hold, sendrecv resumes)."""
        if direction not in ("sendrecv", "sendonly", "recvonly", "inactive"):
            raise ValueError(f"bad direction {direction!r}")
        self._set_direction(direction)
        return await self._describe(None)

    async def withdraw_offer(self, remote: bytes, direction: str) -> None:
        """Our re-offer was refused (RFC 3264 §8: the session stays as it was): apply the
        peer's last description ``remote`` again, as the answer to it, and go back to our
        audio ``direction``. ``remote`` may be the peer's own earlier offer, whose
        ``a=setup:actpass`` (RFC 5763 §5) aiortc refuses in an answer: it is read as the role
        the peer took when the DTLS association was set up."""
        self._set_direction(direction)
        # our DTLS client (active) role means the peer is passive, and the other way round
        peer = "active" if self.transceiver.sender.transport._role == "server" else "passive"
        answer = remote.replace(b"a=setup:actpass", b"a=setup:" + peer.encode())
        await self.set_answer(answer)

    def _set_direction(self, direction: str) -> None:
        self.transceiver.direction = direction
        if self.stream is not None:
            self.stream.sending = _sends(direction)

    @property
    def direction(self) -> str:
        """Our audio direction as last offered or answered."""
        return str(self.transceiver.currentDirection or self.transceiver.direction)

    async def _describe(self, offer: bytes | None) -> bytes:
        """Make the local description; when STUN/TURN gathering overruns ``gather_timeout``,
        start again with host candidates only, which takes no network round trip."""
        try:
            return await self._describe_once(offer)
        except TimeoutError:
            relay = self.config.ice_transport_policy == "relay"
            if not self.config.ice_servers or self._negotiated or relay:
                raise
        await self.pc.close()
        self.gathering_fell_back = True
        self.pc = self._peer_connection(())
        return await self._describe_once(offer)

    async def _describe_once(self, offer: bytes | None) -> bytes:
        pc = self.pc
        if offer is not None:
            require_srtp(offer)  # aiortc would take plain RTP/AVP
            await pc.setRemoteDescription(RTCSessionDescription(offer.decode(), "offer"))
        description = await (pc.createOffer() if offer is None else pc.createAnswer())
        with host_addresses(self.config.host_addresses):
            await asyncio.wait_for(pc.setLocalDescription(description), self.config.gather_timeout)
        self._negotiated = True
        local = self.call_media.local_description(pc.localDescription.sdp, offer)
        if offer is not None:
            self._negotiated_audio(self.call_media.negotiated(offer))
        return local

    # -- the engine stream -----------------------------------------------------------------------
    def _negotiated_audio(self, audio: NegotiatedAudio | None) -> None:
        if audio is None:
            return
        if self.stream is None:
            sender = self.transceiver.sender
            self.stream = AudioStream(
                audio,
                source=self._pull,
                on_pcm=self._pcm if self._on_frame is not None else None,
                on_dtmf=self.call_media._digit,
                ssrc=sender._ssrc,
                cname=str(getattr(self.pc, "_RTCPeerConnection__cname", "")),
            )
            dtls = sender.transport
            if dtls.state == "connected":
                self._start_stream()
            else:
                dtls.on("statechange", self._start_stream)
        else:
            self.stream.update(audio)
        self.stream.sending = _sends(self.direction)

    def _start_stream(self) -> None:
        stream = self.stream
        dtls = self.transceiver.sender.transport
        # closed: a handshake that completes after close() must not start the stream again
        if stream is None or stream.started or stream.closed or dtls.state != "connected":
            return
        stream.start(dtls, sender=self.transceiver.sender, receiver=self.transceiver.receiver)

    @property
    def on_frame(self) -> Callable[[AudioFrame], None] | None:
        """Gets each received frame (decoded or concealed; mono s16 at the codec's rate)."""
        return self._on_frame

    @on_frame.setter
    def on_frame(self, callback: Callable[[AudioFrame], None] | None) -> None:
        self._on_frame = callback
        if self.stream is not None:
            self.stream.on_pcm = self._pcm if callback is not None else None

    def _pcm(self, pcm: bytes, rate: int) -> None:
        callback = self._on_frame
        if callback is None or (self.wants_frames is not None and not self.wants_frames()):
            return
        frame = _pcm_frame(pcm, rate=rate)
        frame.pts = self.frames_received * (rate // 50)
        frame.time_base = fractions.Fraction(1, rate)
        callback(frame)

    # -- audio ---------------------------------------------------------------------------------
    def set_source(self, track: MediaStreamTrack) -> None:
        """Send ``track`` from now on, in place of the current source, without renegotiation.
        The old source is not stopped."""
        if isinstance(self._pull, TrackPcm):
            self._pull.close()
        self.source = track
        self._pull = _pcm_source(track)
        if self.stream is not None:
            self.stream.source = self._pull

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    @property
    def frames_received(self) -> int:
        """Audio frames played out (decoded or concealed) so far."""
        return self.stream.frames_played if self.stream is not None else 0

    # -- DTMF (RFC 4733), activity and statistics -----------------------------------------------
    @property
    def on_dtmf(self) -> Callable[[str], None] | None:
        """Called with each digit received by RFC 4733, once per digit."""
        return self.call_media.on_dtmf

    @on_dtmf.setter
    def on_dtmf(self, callback: Callable[[str], None] | None) -> None:
        self.call_media.on_dtmf = callback

    def dtmf(self) -> AsyncIterator[str]:
        """Digits received by RFC 4733, as they come."""
        return self.call_media.digits()

    async def send_dtmf(
        self, digits: str, *, duration_ms: int = 100, gap_ms: int = 70, volume: int = 10
    ) -> None:
        """Send ``digits`` (``0-9 * # A-D``) as RFC 4733 events on the audio stream
        (:meth:`media.engine.AudioStream.send_dtmf`); :class:`media.engine.DtmfUnavailable`
        before negotiation."""
        if self.stream is None:
            raise DtmfUnavailable("the audio stream has not been negotiated")
        await self.stream.send_dtmf(digits, duration_ms=duration_ms, gap_ms=gap_ms, volume=volume)

    @property
    def last_rtp_at(self) -> float | None:
        """Event-loop time of the last inbound RTP packet (any payload type), or None."""
        return self.stream.last_rtp_at if self.stream is not None else None

    @property
    def rtp_packets_received(self) -> int:
        """Inbound RTP packets so far, any payload type."""
        return self.stream.rtp_packets_received if self.stream is not None else 0

    async def stats(self) -> CallStats:
        """Statistics of the audio stream now (:class:`media.stats.CallStats`)."""
        if self.stream is not None:
            return self.stream.stats()
        return CallStats.empty()

    async def close(self) -> None:
        """End the stream and the peer connection, and stop the source (as aiortc stops the
        track of a sender; :class:`media.mute.MuteGate` leaves its own source live)."""
        if self.stream is not None:
            self.stream.close()
        if isinstance(self._pull, TrackPcm):
            self._pull.close()
        self.source.stop()
        # aiortc's connect task may still be setting the transports up: when it gets to start
        # the sender and receiver after pc.close() stopped them, their loops (and the
        # receiver's decoder thread) would run for ever on the closed connection
        self.transceiver.sender.send = _never_started  # type: ignore[method-assign]
        self.transceiver.receiver.receive = _never_started  # type: ignore[method-assign]
        await self.pc.close()


async def _never_started(parameters: object) -> None:
    """aiortc's ``RTCRtpSender.send`` / ``RTCRtpReceiver.receive`` of a closed session."""


def _sends(direction: str) -> bool:
    """RFC 3264 §6.1: recvonly and inactive send nothing."""
    return direction in ("sendrecv", "sendonly")


def _pcm_source(track: MediaStreamTrack) -> PcmSource:
    """``track`` itself when it gives PCM synchronously, else a reader of its frames."""
    if _gives_pcm(track):
        return track  # type: ignore[return-value]
    return TrackPcm(track)
