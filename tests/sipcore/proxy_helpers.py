"""Shared pieces of the registrar and proxy tests: a transaction layer with the proxy on it
(``Net``), a REGISTER client and fixed flows, with a plain float clock."""

from __future__ import annotations

from collections.abc import Iterable

from sipcore import (
    NameAddr,
    Request,
    Response,
    SipUri,
    Via,
    build_request,
    build_response,
    generate_branch,
    parse_message,
)
from sipcore.digest_client import DigestClient
from sipcore.flow import Flow
from sipcore.proxy import (
    Binding,
    Proxy,
    ProxyConfig,
    Registrar,
)
from sipcore.transaction_layer import TransactionLayer
from sipcore.uri import parse_uri

NOW = 1000.0
DOMAIN = "example.com"
USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}
ME = "192.0.2.1"

ALICE = Flow("UDP", ("192.0.2.10", 5070), (ME, 5060))
BOB = Flow("TCP", ("192.0.2.20", 40001), (ME, 5060), connection=7)
BOB2 = Flow("UDP", ("192.0.2.21", 5062), (ME, 5060))
WEB = Flow("WS", ("192.0.2.30", 50000), (ME, 8080), connection=9)
CAROL = Flow("TCP", ("192.0.2.40", 40002), (ME, 5060), connection=11)

ALICE_CONTACT = "sip:alice@192.0.2.10:5070"
BOB_CONTACT = "sip:bob@192.0.2.20:40001;transport=tcp"
BOB2_CONTACT = "sip:bob@192.0.2.21:5062"
WEB_CONTACT = "sip:k3x9@df7jal23ls0d.invalid;transport=ws"

Message = Request | Response


class Net:
    """The proxy on a transaction layer; ``send`` feeds a message, returns what went out."""

    def __init__(self, **config: object) -> None:
        self.layer = TransactionLayer()
        settings: dict[str, object] = {"domain": DOMAIN, "users": USERS, "invite_auth": False}
        settings.update(config)
        self.proxy = Proxy(self.layer, ProxyConfig(**settings), flows=self)  # type: ignore[arg-type]
        for transport, port in (("UDP", 5060), ("TCP", 5060), ("WS", 8080)):
            self.proxy.add_listener(transport, ME, port)
        self.now = NOW
        self.connections = [BOB, WEB, CAROL]

    def find(self, transport: str, host: str, port: int) -> Flow | None:
        return next(
            (f for f in self.connections if f.transport == transport and f.remote == (host, port)),
            None,
        )

    def bind(self, aor: str, contact: str, flow: Flow, **params: str) -> Binding:
        binding = Binding(
            aor=aor,
            contact=NameAddr(parse_uri(contact), None, dict(params)),
            flow=flow,
            expires_at=self.now + 3600,
            call_id=f"reg-{aor}-{flow.remote[1]}",
            cseq=1,
        )
        self.proxy.location.save(binding)
        return binding

    def send(self, message: Message, flow: Flow) -> list[tuple[Message, Flow]]:
        self.proxy.receive(bytes(message), flow, self.now)
        return self.out()

    def out(self) -> list[tuple[Message, Flow]]:
        return [(parse_message(data), flow) for data, flow in self.layer.data_to_send()]

    def advance(self, until: float) -> list[tuple[Message, Flow]]:
        """Fire the layer's and the proxy's deadlines up to ``until``, in order."""
        sent: list[tuple[Message, Flow]] = []
        while True:
            deadlines = [d for d in (self.layer.get_timer(), self.proxy.get_timer()) if d]
            if not deadlines or min(deadlines) > until:
                break
            self.now = min(deadlines)
            self.layer.handle_timer(self.now)
            self.proxy.handle_timer(self.now)
            self.proxy.process(self.now)
            sent += self.out()
        self.now = until
        return sent


def request(
    method: str,
    uri: str = f"sip:bob@{DOMAIN}",
    *,
    user: str = "alice",
    to: str = "bob",
    to_tag: str | None = None,
    from_tag: str = "a1",
    call_id: str = "call-1",
    cseq: int = 1,
    via: Via | None = None,
    routes: Iterable[str] = (),
    contact: str | None = ALICE_CONTACT,
    headers: Iterable[tuple[str, str]] = (),
    max_forwards: int = 70,
) -> Request:
    to_params = {"tag": to_tag} if to_tag else {}
    return build_request(
        method,
        parse_uri(uri),
        from_addr=NameAddr(SipUri(DOMAIN, user=user), None, {"tag": from_tag}),
        to_addr=NameAddr(SipUri(DOMAIN, user=to), None, to_params),
        call_id=call_id,
        cseq=cseq,
        via=via or Via("UDP", "192.0.2.10", 5070, {"branch": generate_branch()}),
        max_forwards=max_forwards,
        routes=[NameAddr.parse(r) for r in routes],
        contact=NameAddr(parse_uri(contact)) if contact else None,
        headers=list(headers),
    )


def only(sent: list[tuple[Message, Flow]], flow: Flow) -> list[Message]:
    return [message for message, to in sent if to == flow]


def statuses(sent: list[tuple[Message, Flow]], flow: Flow) -> list[int]:
    return [m.status_code for m in only(sent, flow) if isinstance(m, Response)]


def requests_to(sent: list[tuple[Message, Flow]], flow: Flow) -> list[Request]:
    return [m for m in only(sent, flow) if isinstance(m, Request)]


def answer(forwarded: Request, status: int, tag: str = "b1", **kw: object) -> Response:
    return build_response(forwarded, status, to_tag=tag, **kw)  # type: ignore[arg-type]


def reversed_route(response: Response) -> list[str]:
    """The route set of the UAC (§12.1.2): the Record-Route of the response, reversed."""
    return [str(r) for r in reversed(response.record_routes)]


def call_setup(net: Net) -> tuple[Request, Request]:
    """alice (UDP) INVITEs bob (TCP); returns (alice's INVITE, the INVITE bob got)."""
    invite = request("INVITE")
    sent = net.send(invite, ALICE)
    assert statuses(sent, ALICE) == [100]
    (forwarded,) = requests_to(sent, BOB)
    return invite, forwarded


# -- registrar ------------------------------------------------------------------------------------


class Client:
    """A REGISTER client for the registrar tests: answers 401 with DigestClient."""

    def __init__(self, user: str, password: str | None = None) -> None:
        self.user = user
        self.digest = DigestClient(user, password or USERS[user])
        self.cseq = 0
        self.call_id = f"reg-{user}"

    def register(
        self,
        contacts: Iterable[str] = (),
        *,
        expires: int | None = None,
        headers: Iterable[tuple[str, str]] = (),
        to: str | None = None,
    ) -> Request:
        self.cseq += 1
        fields = [("Contact", c) for c in contacts]
        if expires is not None:
            fields.append(("Expires", str(expires)))
        fields.extend(headers)
        req = request(
            "REGISTER",
            f"sip:{DOMAIN}",
            user=to or self.user,
            to=to or self.user,
            call_id=self.call_id,
            cseq=self.cseq,
            contact=None,
            headers=fields,
        )
        for name, value in self.digest.authorize(req):
            req.headers.add(name, value)
        return req


def register(
    registrar: Registrar,
    client: Client,
    contacts: Iterable[str] = (),
    *,
    flow: Flow = ALICE,
    now: float = NOW,
    **kw: object,
) -> Response:
    """REGISTER, answering one challenge."""
    contacts = list(contacts)
    req = client.register(contacts, **kw)  # type: ignore[arg-type]
    response = registrar.register(req, flow, now)
    if response.status_code == 401:
        retry = client.register(contacts, **kw)  # type: ignore[arg-type]
        header = client.digest.respond(response, req)
        assert header is not None
        retry.headers.add(*header)
        response = registrar.register(retry, flow, now)
    return response


def registrar(**config: object) -> Registrar:
    settings: dict[str, object] = {"domain": DOMAIN, "users": USERS}
    settings.update(config)
    return Registrar(ProxyConfig(**settings))  # type: ignore[arg-type]
