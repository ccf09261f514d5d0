"""The embedded registrar and stateful, record-routing proxy (RFC 3261 §10.3, §16; RFC 5626;
RFC 7118), sans-I/O.

This is the embedded default server for demos and tests, not a production server: deployments
put Kamailio in front of the clients, and ``tests/interop/kamailio/kamailio.cfg`` is the
behaviour followed here. :mod:`sipcore.server` runs it on sockets with a
:class:`~sipcore.stack.SipStack`.

The parts:

- :mod:`sipcore.registrar`: the location table, digest authentication and REGISTER.
- :class:`Proxy`: consumes the events of a :class:`~sipcore.transaction_layer.TransactionLayer`
  and acts on the same layer: answers, routes requests (§16.3 - §16.6, §16.11, §16.12) and
  forwards them on new client transactions. It reads no clock: ``now`` comes with every input
  and Timer C leaves as ``get_timer()``.
- :mod:`sipcore.forking`: the response context of each forwarded request (§16.7 - §16.10):
  its branches, the best response, Timer C and CANCEL.

Supported: digest authentication of REGISTER (401) and of initial requests (407, switchable);
bindings keyed by Contact URI, or by +sip.instance / reg-id (RFC 5626 §6), with Min-Expires
(423), ``*`` removal and out-of-order detection; parallel forking to every binding of an AOR;
Via, Max-Forwards (483), Record-Route (double when the transport or socket changes, with a flow
token in each entry, RFC 5626 §5.3), loose routing (§16.4, with the strict-router fix), CANCEL
(§16.10), best-response selection (§16.7), Timer C (§16.8), 503 on transport failure (§16.9) and
stateless forwarding of the ACK of a 2xx (§16.11). Requests are sent only on flows that exist:
the flow of a binding (so that WebSocket clients, whose Contact host is ``*.invalid``, are
reached, RFC 7118 §5), a flow named by a flow token, an open connection to the target, or UDP
to an IP address.

Not supported: DNS (RFC 3263) and opening connections to a target, 3xx recursion, Path (RFC
3327), GRUU, TLS-only (``sips``) policy, nonce-count replay checks, the Date header of a
REGISTER answer (the core has no wall clock), forwarding a CANCEL that matches no transaction,
a 2xx that arrives after a non-2xx final response went upstream, and loop detection beyond
Max-Forwards (the transaction layer answers merged requests, §8.2.2.2, with 482). The AOR is
the user part alone (Kamailio's ``use_domain`` off): ``sip:bob@anything`` reaches bob.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections import OrderedDict
from typing import Protocol

from .errors import ParseError
from .events import (
    AckReceived,
    CancelReceived,
    Event,
    RequestReceived,
)
from .flow import Flow
from .forking import Forker, send_response
from .headers import Headers, Via, pop_first_value, split_list
from .message import (
    MAGIC_COOKIE,
    Request,
    Response,
    generate_branch,
)
from .push import PushNotice, PushParams, PushRegistry
from .registrar import (
    AuthResult,
    Binding,
    DigestAuthenticator,
    LocationTable,
    ProxyConfig,
    Registrar,
    bad_request_reason,
    reply,
)
from .transaction_layer import TransactionLayer
from .uri import SipUri, Uri

__all__ = [
    "AuthResult",
    "Binding",
    "DigestAuthenticator",
    "FlowDirectory",
    "LocationTable",
    "Proxy",
    "ProxyConfig",
    "Registrar",
]

ALLOW = (
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, MESSAGE, SUBSCRIBE, NOTIFY, "
    "REFER, PRACK"
)
# Initial requests that are record-routed: those that create dialogs (§12.1, RFC 6665 §4.1.4,
# RFC 3515), and NOTIFY in or out of a dialog, as Kamailio's configuration does.
RECORD_ROUTE_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})
# Never challenged: they cannot be resubmitted (§22.1) or belong to a dialog (RFC 3262).
UNCHALLENGED_METHODS = frozenset({"ACK", "CANCEL", "PRACK"})
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061, "ws": 80, "wss": 443}
_MAX_TOKENS = 65536


class FlowDirectory(Protocol):
    """Open flows of the driver, for targets that are neither a binding nor a flow token."""

    def find(self, transport: str, host: str, port: int) -> Flow | None:
        """An open flow of ``transport`` (upper case) to (host, port), or None."""


# -- proxy ----------------------------------------------------------------------------------------


class Proxy:
    """The stateful proxy and registrar on one :class:`TransactionLayer`.

    Feed every event of the layer to :meth:`handle_event` (or bytes to :meth:`receive`); the
    proxy answers and forwards through the same layer, so the driver only drains
    ``layer.data_to_send()`` and keeps a timer at ``min(layer.get_timer(), get_timer())``.
    Tell it about listeners (:meth:`add_listener`), and about connections that close
    (:meth:`flow_closed`).
    """

    def __init__(
        self,
        layer: TransactionLayer,
        config: ProxyConfig | None = None,
        *,
        location: LocationTable | None = None,
        flows: FlowDirectory | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.layer = layer
        self.config = cfg = config or ProxyConfig()
        self.location = location if location is not None else LocationTable()
        self.auth = DigestAuthenticator(
            cfg.domain,
            cfg.users,
            algorithms=cfg.algorithms,
            max_age=cfg.nonce_max_age,
            secret=secret,
        )
        self.registrar = Registrar(cfg, self.location, self.auth)
        self.flows = flows
        self._listeners: list[tuple[str, str, int]] = []
        self._local: set[tuple[str, int]] = set()
        self.forker = Forker(layer, cfg)
        self._token_flows: OrderedDict[str, Flow] = OrderedDict()
        self._flow_tokens: dict[Flow, str] = {}
        self.push = PushRegistry()
        """Push bindings without a flow and the INVITEs waiting for them (RFC 8599 §5.6)."""

    # -- set-up and queries -------------------------------------------------------------------
    def add_listener(self, transport: str, host: str, port: int) -> None:
        """A socket we listen on: Route entries naming it are ours (§16.4)."""
        self._listeners.append((transport.upper(), host, port))
        self._local.add((_bare(host).lower(), port))
        if host in _WILDCARD_HOSTS:
            self._local.add((_bare(self._advertised(host)).lower(), port))

    def bindings(self, aor: str, now: float) -> list[Binding]:
        return self.location.lookup(aor, now)

    @property
    def context_count(self) -> int:
        """Response contexts alive (one per server transaction being proxied)."""
        return self.forker.context_count

    # -- inputs -------------------------------------------------------------------------------
    def receive(self, data: bytes, flow: Flow, now: float) -> None:
        """Bytes from ``flow``: through the layer, then every event it produced."""
        self.layer.receive(data, flow, now)
        self.process(now)

    def process(self, now: float) -> None:
        """Handle every event waiting in the layer."""
        while (event := self.layer.next_event()) is not None:
            self.handle_event(event, now)

    def handle_event(self, event: Event, now: float) -> None:
        """One event of the transaction layer."""
        if isinstance(event, RequestReceived):
            self._request(event.transaction, event.request, event.flow, now)
        elif isinstance(event, AckReceived):
            self._ack(event.request, event.flow, now)
        elif isinstance(event, CancelReceived):
            self._cancel(event.cancelled, now)
        else:  # responses, timeouts and failures of the branches, ends of transactions
            self.forker.handle_event(event, now)
        # StrayResponse: RFC 6026 changes §16.7 step 3 so that a response matching no client
        # transaction is dropped, not forwarded statelessly; MessageDropped: the layer has
        # answered what it could.

    def flow_closed(self, flow: Flow, now: float) -> None:
        """A connection closed: its bindings and flow token are gone; those with push
        parameters can still be woken by a push (RFC 8599 §5.6)."""
        for binding in self.location.flow_closed(flow):
            params = PushParams.from_contact(binding.contact)
            if params is not None and self.config.push_handler is not None:
                self.push.remember(binding.aor, params, binding.expires_at)
        token = self._flow_tokens.pop(flow, None)
        if token is not None:
            self._token_flows.pop(token, None)

    def get_timer(self) -> float | None:
        """The earliest Timer C or CANCEL deadline of any branch, or the end of the wait of an
        INVITE held for a push."""
        deadlines = [d for d in (self.forker.get_timer(), self.push.get_timer()) if d is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        for key, request, *_ in self.push.expired(now):
            send_response(
                self.layer, key, reply(self.config, request, 480, "Pushed UA did not register"), now
            )
        self.forker.handle_timer(now)

    # -- requests -----------------------------------------------------------------------------
    def _request(self, key: str, request: Request, flow: Flow, now: float) -> None:
        try:
            response = self._route(key, request, flow, now)
        except ParseError as exc:
            response = reply(self.config, request, 400, bad_request_reason(exc))
        if response is not None:
            send_response(self.layer, key, response, now)
            if request.method == "REGISTER" and 200 <= response.status_code < 300:
                self._registered(request, now)

    def _registered(self, request: Request, now: float) -> None:
        """RFC 8599 §5.6: the pushed UA is back; forward what waited for it."""
        to_uri = request.to.uri
        aor = to_uri.user if isinstance(to_uri, SipUri) else None
        if aor is None:
            return
        bindings = self.location.lookup(aor, now)
        if not bindings:
            return
        self.push.forget(aor)
        targets: list[tuple[SipUri | None, Flow]] = [(b.uri, b.flow) for b in bindings]
        for key, held, prepared, flow, record_route in self.push.release(aor):
            self._forward(key, held, prepared, flow, targets, now, record_route)

    def _route(self, key: str, request: Request, flow: Flow, now: float) -> Response | None:
        """Validate (§16.3), preprocess routes (§16.4), find targets (§16.5) and forward
        (§16.6); a response when the request is answered here."""
        uri = request.uri
        method = request.method
        # §16.3 step 2: a URI scheme we understand
        if not isinstance(uri, SipUri):
            return reply(self.config, request, 416)
        # §16.3 step 3: Max-Forwards
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0:
            return reply(self.config, request, 483)
        # §16.3 step 5: we support no extension a proxy could be required to
        unsupported = request.proxy_require
        if unsupported:
            return reply(
                self.config, request, 420, headers=[("Unsupported", ", ".join(unsupported))]
            )

        prepared = _copy(request)
        tokens = self._preprocess_routes(prepared)
        routes = prepared.routes
        target = prepared.uri
        assert isinstance(target, SipUri)

        if method == "REGISTER" and not routes:
            return self.registrar.register(request, flow, now)

        if request.to.tag is not None:
            return self._in_dialog(key, request, prepared, flow, tokens, now)

        # an initial request (§16.5 onwards)
        if not routes and target.user is None:
            if method == "OPTIONS":  # to the server itself: a keep-alive or ping
                return reply(
                    self.config,
                    request,
                    200,
                    headers=[("Allow", ALLOW), ("Accept", "application/sdp")],
                )
            return reply(self.config, request, 484)
        if self.config.invite_auth and method not in UNCHALLENGED_METHODS:
            result = self.auth.authenticate(request, now, proxy=True)
            if result.user is None:
                headers = self.auth.challenges(now, proxy=True, stale=result.stale)
                return reply(self.config, request, 407, headers=headers)
            from_uri = request.from_.uri
            if not isinstance(from_uri, SipUri) or from_uri.user != result.user:
                return reply(self.config, request, 403, "Forbidden auth ID")
            self.auth.consume(prepared)
        record_route = method in RECORD_ROUTE_METHODS

        if routes:
            # §16.5 / §16.6 step 7: a pre-loaded route decides the next hop, the URI stays
            out = self._resolve(routes[0].uri, now)
            if out is None:
                return reply(self.config, request, 404, "No route")
            self._forward(key, request, prepared, flow, [(None, out)], now, record_route)
            return None

        # §16.5: the targets are the bindings of the AOR (the user part, as usrloc without
        # use_domain)
        aor = target.user
        assert aor is not None
        bindings = self.location.lookup(aor, now)
        if not bindings:
            params = self.push.lookup(aor, now) if method == "INVITE" else None
            handler = self.config.push_handler
            if params is not None and handler is not None:
                # RFC 8599 §5.6: push, and hold the INVITE until the UA registers again
                deadline = now + self.config.push_wait
                self.push.hold(aor, key, deadline, (key, request, prepared, flow, record_route))
                caller = str(request.from_.uri)
                handler(PushNotice(aor=aor, params=params, call_id=request.call_id, caller=caller))
                return None
            if aor in self.config.users or self.config.token_validator is not None:
                return reply(self.config, request, 480)
            return reply(self.config, request, 404)
        targets: list[tuple[SipUri | None, Flow]] = [(b.uri, b.flow) for b in bindings]
        self._forward(key, request, prepared, flow, targets, now, record_route)
        return None

    def _in_dialog(
        self,
        key: str,
        request: Request,
        prepared: Request,
        flow: Flow,
        tokens: list[str],
        now: float,
    ) -> Response | None:
        """A request inside a dialog (§16.4 loose routing): not challenged, one target."""
        if not prepared.routes and self._is_ours(prepared.uri) and not tokens:
            return reply(self.config, request, 481)  # addressed to us, and we hold no dialogs
        out = self._next_hop(prepared, flow, tokens, now)
        if out is None:
            return reply(self.config, request, 404, "Not here")
        record_route = request.method == "NOTIFY"
        self._forward(key, request, prepared, flow, [(None, out)], now, record_route)
        return None

    def _ack(self, request: Request, flow: Flow, now: float) -> None:
        """An ACK outside any transaction: the ACK of a 2xx, forwarded statelessly along its
        route (§16.11; the ACK of a non-2xx stays with the server transaction, §17.2.1)."""
        try:
            if request.to.tag is None or not isinstance(request.uri, SipUri):
                return
            max_forwards = request.max_forwards
            if max_forwards is not None and max_forwards <= 0:
                return
            prepared = _copy(request)
            tokens = self._preprocess_routes(prepared)
            out = self._next_hop(prepared, flow, tokens, now)
            if out is None:
                return
            _decrement_max_forwards(prepared)
            # §16.11: a stateless proxy computes the branch from the request, so that a
            # retransmitted ACK gets the same one
            top = request.top_via
            seed = f"{top.branch}|{top.sent_by}|{request.call_id}|{request.cseq}".encode()
            branch = MAGIC_COOKIE + hashlib.sha256(seed).hexdigest()[:20]
            host, port = self._sent_by(out)
            prepared.headers.prepend("Via", str(Via(out.transport, host, port, {"branch": branch})))
            self.layer.send_stateless(prepared, out)
        except ParseError:
            return

    def _preprocess_routes(self, request: Request) -> list[str]:
        """§16.4: undo a strict router's rewrite, then pop every Route entry naming us; returns
        the flow tokens those entries carried."""
        uri = request.uri
        if (
            isinstance(uri, SipUri)
            and self._is_ours(uri)
            and (uri.lr or (uri.user is not None and uri.user in self._token_flows))
        ):
            routes = request.routes
            if routes:
                # the previous hop was a strict router: the last Route is the real target
                request.uri = routes[-1].uri
                _pop_last_value(request.headers, "Route")
        tokens: list[str] = []
        while True:
            routes = request.routes
            if not routes or not self._is_ours(routes[0].uri):
                break
            route_uri = routes[0].uri
            assert isinstance(route_uri, SipUri)
            if route_uri.user:
                tokens.append(route_uri.user)
            pop_first_value(request.headers, "Route")
        return tokens

    def _next_hop(
        self, request: Request, arrival: Flow, tokens: list[str], now: float
    ) -> Flow | None:
        """The flow towards the next hop of an in-dialog request (§16.12): the first remaining
        Route, else the binding whose Contact is the Request-URI, else the flow of a token
        from our Route entries that is not the one the request came on (RFC 5626 §5.3), else
        an open flow to the Request-URI."""
        routes = request.routes
        if routes:
            return self._resolve(routes[0].uri, now)
        binding = self.location.find_contact(request.uri, now)
        if binding is not None:
            return binding.flow
        for token in tokens:
            flow = self._token_flows.get(token)
            if flow is not None and flow != arrival:
                return flow
        return self._resolve(request.uri, now)

    def _resolve(self, uri: Uri, now: float) -> Flow | None:
        """A flow to ``uri`` without DNS: its binding, else UDP to an IP address or an open
        connection of its transport."""
        if not isinstance(uri, SipUri):
            return None
        binding = self.location.find_contact(uri, now)
        if binding is not None:
            return binding.flow
        transport, port = _transport_port(uri)
        host = _bare(uri.maddr or uri.host)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None  # a name (e.g. the *.invalid host of a WebSocket client) - no DNS here
        if transport == "udp":
            local = next(((h, p) for t, h, p in self._listeners if t == "UDP"), None)
            return None if local is None else Flow("UDP", (host, port), local)
        if self.flows is None:
            return None
        return self.flows.find(transport.upper(), host, port)

    # -- forwarding (§16.6) ---------------------------------------------------------------------
    def _forward(
        self,
        key: str,
        request: Request,
        prepared: Request,
        arrival: Flow,
        targets: list[tuple[SipUri | None, Flow]],
        now: float,
        record_route: bool,
    ) -> None:
        copies: list[tuple[Request, Flow]] = []
        for uri, out in targets:
            forwarded = _copy(prepared)  # §16.6 step 1
            if uri is not None:
                forwarded.uri = uri  # §16.6 step 2
            _decrement_max_forwards(forwarded)  # §16.6 step 3
            if record_route and self.config.record_route:
                self._record_route(forwarded, arrival, out)  # §16.6 step 4
            host, port = self._sent_by(out)
            via = Via(out.transport, host, port, {"branch": generate_branch()})
            forwarded.headers.prepend("Via", str(via))  # §16.6 step 8
            copies.append((forwarded, out))
        self.forker.fork(key, request, arrival, copies, now)  # §16.6 steps 10 and 11

    def _record_route(self, request: Request, inbound: Flow, outbound: Flow) -> None:
        """§16.6 step 4: our URI on top of Record-Route. When the request changes transport or
        socket, two entries (one per side, with its transport), as Kamailio's double RR; each
        carries the flow token of its side in the user part (RFC 5626 §5.3)."""
        double = (inbound.transport, inbound.local) != (outbound.transport, outbound.local)
        inside = self._route_uri(inbound, transport_param=double)
        request.headers.prepend("Record-Route", f"<{inside}>")
        if double:
            outside = self._route_uri(outbound, transport_param=True)
            request.headers.prepend("Record-Route", f"<{outside}>")

    def _route_uri(self, flow: Flow, *, transport_param: bool) -> SipUri:
        host, port = self._sent_by(flow)
        params: dict[str, str | None] = {}
        if transport_param or flow.transport != "UDP":
            params["transport"] = flow.transport.lower()
        params["lr"] = None
        return SipUri(host, user=self._token(flow), port=port, params=params)

    def _token(self, flow: Flow) -> str:
        token = self._flow_tokens.get(flow)
        if token is None:
            token = secrets.token_hex(8)
            self._flow_tokens[flow] = token
            self._token_flows[token] = flow
            while len(self._token_flows) > _MAX_TOKENS:
                _, old = self._token_flows.popitem(last=False)
                self._flow_tokens.pop(old, None)
        else:
            self._token_flows.move_to_end(token)
        return token

    def _sent_by(self, flow: Flow) -> tuple[str, int]:
        host, port = flow.local
        if host in _WILDCARD_HOSTS:
            host = self._advertised(host)
        return (f"[{host}]" if ":" in host else host), port

    def _advertised(self, host: str) -> str:
        return self.config.advertise or self.config.domain or host

    def _is_ours(self, uri: Uri) -> bool:
        if not isinstance(uri, SipUri):
            return False
        _, port = _transport_port(uri)
        return (_bare(uri.host).lower(), port) in self._local

    # -- CANCEL (§16.10) -----------------------------------------------------------------------
    def _cancel(self, invite_key: str, now: float) -> None:
        """A CANCEL matched a server transaction (the layer has answered it 200)."""
        held = self.push.drop(invite_key)
        if held is not None:
            send_response(self.layer, invite_key, reply(self.config, held[1], 487), now)
            return
        self.forker.cancel(invite_key, now)


# -- message helpers ------------------------------------------------------------------------------


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _transport_port(uri: SipUri) -> tuple[str, int]:
    """The transport (lower case) and port a request to ``uri`` goes to, without DNS: the
    ``transport`` parameter, else TLS for sips and UDP; the port, else that transport's."""
    transport = uri.transport or ("tls" if uri.secure else "udp")
    return transport, uri.port or _DEFAULT_PORTS.get(transport, 5060)


def _copy(request: Request) -> Request:
    return Request(request.method, request.uri, request.headers.copy(), request.body)


def _decrement_max_forwards(request: Request) -> None:
    """§16.6 step 3: decrement Max-Forwards, adding it with 70 when absent."""
    value = request.max_forwards
    request.headers.set("Max-Forwards", str(70 if value is None else value - 1))


def _pop_last_value(headers: Headers, name: str) -> None:
    lines = headers.get_lines(name)
    if not lines:
        return
    values = split_list(lines[-1])
    if len(values) > 1:
        headers.replace_line(name, -1, ", ".join(values[:-1]))
        return
    headers.remove(name)
    for line in lines[:-1]:
        headers.add(name, line)
