"""Transports: the sockets under the sans-I/O core (RFC 3261 §18, RFC 5626 §4.4, RFC 7118).

Each transport turns sockets into :class:`~sipcore.flow.Flow` objects and pushes what arrives into
a :class:`Receiver` implemented by the driver; :meth:`Transport.send` queues bytes without
blocking.

- :class:`UdpTransport`: one datagram, one message (§18).
- :class:`StreamTransport`: TCP and TLS, framed by :class:`~sipcore.framer.StreamFramer` (§18.3).
- :class:`WebSocketTransport`: WS and WSS with the ``sip`` subprotocol (RFC 7118).
"""

from sipcore.transport.base import Receiver, Transport, client_ssl_context, server_ssl_context
from sipcore.transport.stream import StreamTransport
from sipcore.transport.udp import UdpTransport
from sipcore.transport.ws import SIP_SUBPROTOCOL, WebSocketTransport

__all__ = [
    "SIP_SUBPROTOCOL",
    "Receiver",
    "StreamTransport",
    "Transport",
    "UdpTransport",
    "WebSocketTransport",
    "client_ssl_context",
    "server_ssl_context",
]
