"""The SRTP path of one aiortc DTLS transport, taken over for :mod:`media.engine`.

aiortc keeps ICE (aioice), the DTLS handshake and its SRTP keying; once the handshake is done
the audio packets bypass its RTP pipeline (a task per packet hop, a decoder thread, PyAV
frames). Everything here works on *instances*: other peer connections are left alone.

- **Receive**: every ``StunProtocol`` of the aioice ``Connection`` (host, server-reflexive and
  relayed candidates alike: TURN delivers unwrapped data to the same method) gets its
  ``datagram_received`` wrapped. The first byte demultiplexes (RFC 7983 §7): 128-191 is
  RTP/RTCP and is unprotected here with the transport's ``_rx_srtp`` session and handed on
  synchronously; STUN (0-3) and DTLS (20-63) go on to aioice and aiortc unchanged.
- **Send**: packets are protected with the transport's ``_tx_srtp`` session and given to the
  nominated pair's datagram transport (``sendto``), synchronously.
- libsrtp is called on each pylibsrtp ``Session``'s own buffer (:class:`_Srtp`), without
  the allocations pylibsrtp makes per packet.
- **aiortc's own RTP/RTCP** for the transceiver is silenced: the DTLS transport's
  ``_send_rtp`` drops everything (so its sender's SR/BYE never share our SSRC's SRTCP index),
  the sender's RTP and RTCP tasks are cancelled and the receiver's decoder thread and RTCP task
  stopped (:meth:`SrtpLink.release_aiortc`; only once they have started, since aiortc's
  ``stop()`` waits for their start events).

Relied on (aiortc 1.x, aioice 0.x internals, checked at import and by
``tests/media/test_engine.py``): ``RTCDtlsTransport._rx_srtp/_tx_srtp/_send_rtp``,
``RTCIceTransport._connection``, ``Connection._protocols/_nominated``, pylibsrtp 1.x
``Session._srtp/_cdata/_buffer``,
``CandidatePair.protocol/remote_addr``, and the name-mangled task attributes of
``RTCRtpSender``/``RTCRtpReceiver``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aioice
import aiortc
import pylibsrtp
from pylibsrtp._binding import ffi, lib  # type: ignore[import-not-found]

__all__ = ["LinkUnavailable", "SrtpLink"]

if aiortc.__version__.split(".")[0] != "1" or aioice.__version__.split(".")[0] != "0":
    raise ImportError(
        f"media.srtp_link relies on aiortc 1.x and aioice 0.x internals; found aiortc "
        f"{aiortc.__version__}, aioice {aioice.__version__}"
    )
for _name in ("_send_rtp", "_setup_srtp"):
    if not callable(getattr(aiortc.RTCDtlsTransport, _name, None)):
        raise ImportError(f"aiortc {aiortc.__version__}: RTCDtlsTransport.{_name} is gone")
if pylibsrtp.__version__.split(".")[0] != "1":
    raise ImportError(f"media.srtp_link relies on pylibsrtp 1.x, found {pylibsrtp.__version__}")

_HOOK = "datagram_received"


def _operation(session: pylibsrtp.Session, func: Any, trailer: int) -> Callable[[bytes], Any]:
    """One libsrtp operation on a pylibsrtp ``Session``'s context and packet buffer: the
    processed packet, or None when libsrtp refuses it (authentication, replay, or a packet
    too long for the buffer)."""
    srtp = session._srtp  # the owning pointer: libsrtp's context lives while it does
    cdata = session._cdata
    buffer = session._buffer
    room = len(cdata) - trailer
    length = ffi.new("int *")

    def run(data: bytes) -> bytes | None:
        size = len(data)
        if size > room:
            return None
        buffer[0:size] = data
        length[0] = size
        if func(srtp[0], cdata, length):
            return None
        out: bytes = buffer[0 : length[0]]
        return out

    return run


class _Srtp:
    """The libsrtp operations of one pylibsrtp ``Session`` (see :func:`_operation`)."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        self.protect = _operation(session, lib.srtp_protect, pylibsrtp.SRTP_MAX_TRAILER_LEN)
        self.protect_rtcp = _operation(
            session, lib.srtp_protect_rtcp, pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN
        )
        self.unprotect = _operation(session, lib.srtp_unprotect, 0)
        self.unprotect_rtcp = _operation(session, lib.srtp_unprotect_rtcp, 0)


class LinkUnavailable(RuntimeError):
    """The DTLS transport has no SRTP keys yet (handshake not done) or no ICE connection."""


class SrtpLink:
    """SRTP in and out of one DTLS transport's ICE connection.

    ``on_rtp(packet)`` and ``on_rtcp(packet)`` get plaintext packets, synchronously from the
    datagram callback. Call :meth:`close` to give everything back to aioice and aiortc.
    """

    def __init__(
        self,
        dtls: Any,
        on_rtp: Callable[[bytes], None],
        on_rtcp: Callable[[bytes], None],
    ) -> None:
        rx = getattr(dtls, "_rx_srtp", None)
        tx = getattr(dtls, "_tx_srtp", None)
        if dtls.state != "connected" or rx is None or tx is None:
            raise LinkUnavailable(f"DTLS transport is {dtls.state}, no SRTP keys")
        self._dtls = dtls
        self._connection = dtls.transport._connection
        self._rx = _Srtp(rx)
        self._tx = _Srtp(tx)
        self._on_rtp = on_rtp
        self._on_rtcp = on_rtcp
        self.srtp_errors = 0
        """Packets that failed SRTP authentication or replay checks (dropped)."""
        self.send_errors = 0
        """Packets not sent: no nominated pair, or the socket refused them."""
        self._hooked: list[Any] = []
        self._released = False
        self.closed = False
        for protocol in list(self._connection._protocols):
            self._hook(protocol)

        async def _drop(data: bytes) -> None:
            return None

        dtls._send_rtp = _drop

    # -- receive -------------------------------------------------------------------------------
    def _hook(self, protocol: Any) -> None:
        original = getattr(protocol, _HOOK)
        unprotect = self._rx.unprotect
        unprotect_rtcp = self._rx.unprotect_rtcp
        on_rtp = self._on_rtp
        on_rtcp = self._on_rtcp

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            # RFC 7983 §7: 128..191 is RTP or RTCP; everything else stays with aioice/aiortc;
            # RFC 5761 §4: RTCP packet types 192..223 in the second byte
            if 127 < data[0] < 192 and len(data) > 1:
                if 191 < data[1] < 224:
                    plain = unprotect_rtcp(data)
                    if plain is not None:
                        on_rtcp(plain)
                        return
                else:
                    plain = unprotect(data)
                    if plain is not None:
                        on_rtp(plain)
                        return
                self.srtp_errors += 1
                return
            original(data, addr)

        setattr(protocol, _HOOK, datagram_received)
        self._hooked.append(protocol)

    # -- send ----------------------------------------------------------------------------------
    def send_rtp(self, packet: bytes) -> None:
        """Protect and send one plaintext RTP packet."""
        self._sendto(self._tx.protect(packet))

    def send_rtcp(self, packet: bytes) -> None:
        """Protect and send one plaintext (compound) RTCP packet."""
        self._sendto(self._tx.protect_rtcp(packet))

    def _sendto(self, data: bytes | None) -> None:
        if data is None:
            self.srtp_errors += 1
            return
        pair = self._connection._nominated.get(1)
        if pair is None or self.closed:
            self.send_errors += 1
            return
        transport = pair.protocol.transport
        # a relayed pair's TurnTransport has no is_closing() and drops data once closed
        closing = getattr(transport, "is_closing", None)
        if closing is not None and closing():
            self.send_errors += 1
            return
        transport.sendto(data, pair.remote_addr)

    # -- aiortc's pipeline ---------------------------------------------------------------------
    def release_aiortc(self, sender: Any, receiver: Any) -> bool:
        """Stop aiortc's RTP/RTCP loops of this transceiver once they have started; True when
        nothing of them is left running (call again until it is)."""
        if self._released:
            return True
        done = True
        if getattr(sender, "_RTCRtpSender__started", False):
            started = (sender._RTCRtpSender__rtp_started, sender._RTCRtpSender__rtcp_started)
            if all(event.is_set() for event in started):
                sender._RTCRtpSender__rtp_task.cancel()
                sender._RTCRtpSender__rtcp_task.cancel()
            else:
                done = False
        elif sender is not None:
            done = False
        if getattr(receiver, "_RTCRtpReceiver__started", False):
            if receiver._RTCRtpReceiver__rtcp_started.is_set():
                receiver._RTCRtpReceiver__rtcp_task.cancel()
                receiver._RTCRtpReceiver__stop_decoder()
            else:
                done = False
        elif receiver is not None:
            done = False
        self._released = done
        return done

    def close(self) -> None:
        """Give the datagram callbacks and ``_send_rtp`` back (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for protocol in self._hooked:
            if _HOOK in vars(protocol):
                delattr(protocol, _HOOK)
        self._hooked.clear()
        if "_send_rtp" in vars(self._dtls):
            del self._dtls._send_rtp
