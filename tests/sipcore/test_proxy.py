"""The embedded proxy without sockets: a TransactionLayer, the Proxy on it, and messages fed in
as bytes with a plain float clock."""

from __future__ import annotations

from sipcore import (
    Request,
    Response,
    SipUri,
    Via,
    generate_branch,
)
from sipcore.auth import authorization
from sipcore.digest_client import DigestClient
from sipcore.flow import Flow
from sipcore.push import PushNotice
from sipcore.transaction import build_cancel
from tests.sipcore.proxy_helpers import (
    ALICE,
    ALICE_CONTACT,
    BOB,
    BOB2,
    BOB2_CONTACT,
    BOB_CONTACT,
    CAROL,
    DOMAIN,
    ME,
    NOW,
    WEB,
    WEB_CONTACT,
    Client,
    Net,
    answer,
    call_setup,
    only,
    request,
    requests_to,
    reversed_route,
    statuses,
)

# -- proxy: validation and targets ----------------------------------------------------------------


def test_requests_answered_by_the_proxy() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    cases: list[tuple[Request, int]] = [
        (request("INVITE", max_forwards=0), 483),
        (request("MESSAGE", "sip:nobody@example.com"), 404),
        (request("MESSAGE", "sip:carol@example.com"), 480),  # a user without bindings
        (request("MESSAGE", "tel:+15551234"), 416),
        (request("MESSAGE", headers=[("Proxy-Require", "foo")]), 420),
        (request("MESSAGE", f"sip:{ME}:5060"), 484),
        (request("BYE", f"sip:{ME}:5060", to_tag="x"), 481),
        (request("BYE", "sip:ghost@192.0.2.99:5090;transport=tcp", to_tag="x"), 404),
    ]
    for n, (req, status) in enumerate(cases):
        req.headers.set("Call-ID", f"case-{n}")  # distinct requests, not merged ones (§8.2.2.2)
        sent = net.send(req, ALICE)
        assert statuses(sent, ALICE)[-1] == status, (req, sent)
        assert not requests_to(sent, BOB)
    bad_route = request("MESSAGE", call_id="bad-route")
    bad_route.headers.add("Route", "<sip:192.0.2.1:5060;lr")
    assert statuses(net.send(bad_route, ALICE), ALICE) == [400]
    unsupported = net.send(request("MESSAGE", headers=[("Proxy-Require", "foo")]), ALICE)
    assert only(unsupported, ALICE)[0].headers.get("Unsupported") == "foo"
    options = net.send(request("OPTIONS", f"sip:{ME}:5060"), ALICE)
    (ok,) = only(options, ALICE)
    assert isinstance(ok, Response) and ok.status_code == 200 and "REGISTER" in ok.allow


def test_register_goes_to_the_registrar() -> None:
    net = Net()
    alice = Client("alice")
    req = alice.register([f"<{ALICE_CONTACT}>"], expires=600)
    (challenge,) = only(net.send(req, ALICE), ALICE)
    assert isinstance(challenge, Response) and challenge.status_code == 401
    retry = alice.register([f"<{ALICE_CONTACT}>"], expires=600)
    header = alice.digest.respond(challenge, req)
    assert header is not None
    retry.headers.add(*header)
    assert statuses(net.send(retry, ALICE), ALICE) == [200]
    assert [b.flow for b in net.proxy.bindings("alice", NOW)] == [ALICE]


def test_initial_requests_are_challenged_with_407() -> None:
    net = Net(invite_auth=True)
    net.bind("bob", BOB_CONTACT, BOB)
    invite = request("INVITE")
    sent = net.send(invite, ALICE)
    assert statuses(sent, ALICE) == [100, 407]
    challenge = only(sent, ALICE)[-1]
    assert isinstance(challenge, Response)
    assert [c.params["algorithm"] for c in challenge.proxy_authenticate] == ["MD5", "SHA-256"]
    assert not requests_to(sent, BOB)
    # the ACK of the 407 stays with the transaction (hop-by-hop)
    digest = DigestClient("alice", "alicepw")
    retry = request("INVITE", cseq=2, headers=[digest.respond(challenge, invite) or ("", "")])
    forwarded = requests_to(net.send(retry, ALICE), BOB)
    assert len(forwarded) == 1
    assert "Proxy-Authorization" not in forwarded[0].headers  # consumed (§22.3)
    # credentials of another user than the From user
    mallory = request("MESSAGE", call_id="m", cseq=1)
    message_challenge = only(net.send(mallory, ALICE), ALICE)[-1]
    assert isinstance(message_challenge, Response)
    bob_digest = DigestClient("bob", "bobpw")
    as_bob = request(
        "MESSAGE",
        call_id="m",
        cseq=2,
        headers=[bob_digest.respond(message_challenge, mallory) or ("", "")],
    )
    assert statuses(net.send(as_bob, ALICE), ALICE) == [403]
    # right credentials with a nonce grown old: 407 with stale=true (RFC 7616 §3.3)
    net.now += 400
    late = request("MESSAGE", call_id="s")
    value = authorization(
        challenge.headers.get_lines("Proxy-Authenticate")[0],
        method="MESSAGE",
        uri=str(late.uri),
        username="alice",
        password="alicepw",
    )
    late.headers.add("Proxy-Authorization", value)
    stale = only(net.send(late, ALICE), ALICE)[-1]
    assert isinstance(stale, Response) and stale.status_code == 407
    assert stale.proxy_authenticate[0].params.get("stale") == "true"


# -- proxy: a call --------------------------------------------------------------------------------


def test_invite_is_forwarded_with_via_max_forwards_and_double_record_route() -> None:
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    invite, forwarded = call_setup(net)
    assert str(forwarded.uri) == BOB_CONTACT  # §16.6 step 2: the binding's Contact
    assert forwarded.max_forwards == 69
    top, theirs = forwarded.vias
    assert (top.transport, top.sent_by) == ("TCP", f"{ME}:5060")
    assert top.branch != theirs.branch and theirs.branch == invite.top_via.branch
    outside, inside = forwarded.record_routes  # transports differ: one entry per side
    assert isinstance(outside.uri, SipUri) and isinstance(inside.uri, SipUri)
    assert (outside.uri.transport, outside.uri.lr, outside.uri.port) == ("tcp", True, 5060)
    assert (inside.uri.transport, inside.uri.lr) == ("udp", True)
    assert outside.uri.user != inside.uri.user  # a flow token each (RFC 5626 §5.3)


def test_single_record_route_when_the_transport_stays() -> None:
    net = Net()
    net.bind("bob", BOB2_CONTACT, BOB2)
    sent = net.send(request("SUBSCRIBE", headers=[("Event", "presence")]), ALICE)
    (forwarded,) = requests_to(sent, BOB2)
    (entry,) = forwarded.record_routes
    assert isinstance(entry.uri, SipUri)
    assert entry.uri.transport is None and entry.uri.hostport == f"{ME}:5060"
    # requests that create no dialog are not record-routed
    (message,) = requests_to(net.send(request("MESSAGE", call_id="m"), ALICE), BOB2)
    assert message.record_routes == []


def test_call_responses_ack_and_bye_along_the_route_set() -> None:
    net = Net()
    net.bind("alice", ALICE_CONTACT, ALICE)
    net.bind("bob", BOB_CONTACT, BOB)
    invite, forwarded = call_setup(net)
    # provisional and final responses go back without our Via; 100 is hop-by-hop
    assert net.send(answer(forwarded, 100), BOB) == []
    ringing = only(net.send(answer(forwarded, 180), BOB), ALICE)
    assert [r.status_code for r in ringing if isinstance(r, Response)] == [180]
    ok = answer(forwarded, 200, headers=[("Contact", f"<{BOB_CONTACT}>")])
    (up,) = only(net.send(ok, BOB), ALICE)
    assert isinstance(up, Response) and up.status_code == 200
    assert [v.branch for v in up.vias] == [invite.top_via.branch]
    assert len(up.record_routes) == 2
    # a 2xx retransmission is forwarded too (RFC 6026)
    assert statuses(net.send(ok, BOB), ALICE) == [200]

    # ACK of the 2xx: stateless, along alice's route set (§12.1.2, §16.11)
    routes = reversed_route(up)
    ack = request("ACK", BOB_CONTACT, to_tag="b1", routes=routes, contact=None)
    sent = net.send(ack, ALICE)
    (relayed,) = requests_to(sent, BOB)
    assert relayed.method == "ACK" and relayed.routes == []
    assert relayed.top_via.sent_by == f"{ME}:5060" and relayed.max_forwards == 69
    again = requests_to(net.send(ack, ALICE), BOB)[0]  # a retransmission: the same branch
    assert again.top_via.branch == relayed.top_via.branch

    # BYE from bob along his route set (the Record-Route as received) reaches alice
    bye = request(
        "BYE",
        ALICE_CONTACT,
        user="bob",
        to="alice",
        from_tag="b1",
        to_tag="a1",
        cseq=1,
        via=Via("TCP", "192.0.2.20", 40001, {"branch": generate_branch()}),
        routes=[str(r) for r in forwarded.record_routes],
        contact=None,
    )
    (bye_out,) = requests_to(net.send(bye, BOB), ALICE)
    assert str(bye_out.uri) == ALICE_CONTACT and bye_out.routes == []
    assert statuses(net.send(answer(bye_out, 200, tag="a1"), ALICE), BOB) == [200]


def test_in_dialog_requests_reach_flows_without_a_binding() -> None:
    """An unregistered caller over TCP is reached through the flow token of its Record-Route
    entry; a WebSocket binding through its flow (its Contact host is *.invalid)."""
    net = Net()
    net.bind("bob", WEB_CONTACT, WEB)
    invite = request(
        "INVITE",
        user="carol",
        via=Via("TCP", "192.0.2.40", 40002, {"branch": generate_branch()}),
        contact="sip:carol@192.0.2.40:40002;transport=tcp",
    )
    (forwarded,) = requests_to(net.send(invite, CAROL), WEB)
    (up,) = only(net.send(answer(forwarded, 200), WEB), CAROL)
    assert isinstance(up, Response)
    bob_bye = request(
        "BYE",
        "sip:carol@carol-laptop.example;transport=tcp",  # not resolvable: the token decides
        user="bob",
        to="carol",
        from_tag="b1",
        to_tag="a1",
        via=Via("WS", "df7jal23ls0d.invalid", None, {"branch": generate_branch()}),
        routes=[str(r) for r in forwarded.record_routes],
        contact=None,
    )
    assert len(requests_to(net.send(bob_bye, WEB), CAROL)) == 1

    def carol_info(cseq: int) -> Request:
        return request(
            "INFO",
            WEB_CONTACT,
            user="carol",
            to_tag="b1",
            cseq=cseq,
            via=Via("TCP", "192.0.2.40", 40002, {"branch": generate_branch()}),
            routes=reversed_route(up),
            contact=None,
        )

    assert len(requests_to(net.send(carol_info(2), CAROL), WEB)) == 1
    # once the flow is gone, so are the binding and the token
    net.proxy.flow_closed(WEB, net.now)
    assert net.proxy.bindings("bob", net.now) == []
    assert statuses(net.send(carol_info(3), CAROL), CAROL) == [404]


def test_strict_router_request_uri_is_restored() -> None:
    """§16.4: a strict router put our Record-Route URI in the Request-URI and the target in the
    last Route."""
    net = Net()
    net.bind("bob", BOB_CONTACT, BOB)
    _, forwarded = call_setup(net)
    ours = forwarded.record_routes[-1].uri
    strict = request("BYE", str(ours), to_tag="b1", routes=[f"<{BOB_CONTACT}>"], contact=None)
    (out,) = requests_to(net.send(strict, ALICE), BOB)
    assert str(out.uri) == BOB_CONTACT and out.routes == []


def test_preloaded_route_to_another_hop() -> None:
    net = Net()
    message = request("MESSAGE", "sip:dave@elsewhere.example")
    message.headers.add("Route", f"<sip:{ME}:5060;lr>, <sip:192.0.2.50:5080;lr>")
    sent = net.send(message, ALICE)
    (out,) = [m for m, f in sent if isinstance(m, Request)]
    assert [f for m, f in sent if isinstance(m, Request)] == [
        Flow("UDP", ("192.0.2.50", 5080), (ME, 5060))
    ]
    assert [str(r.uri) for r in out.routes] == ["sip:192.0.2.50:5080;lr"]
    assert str(out.uri) == "sip:dave@elsewhere.example"


# -- push (RFC 8599 §5.6) -------------------------------------------------------------------------


def test_push_wakes_a_ua_and_the_invite_waits_for_its_registration() -> None:
    notices: list[PushNotice] = []
    net = Net(push_handler=notices.append, push_wait=20.0)
    push = {"pn-provider": "fcm", "pn-prid": "dev-1"}
    net.bind("bob", WEB_CONTACT, WEB, **push)
    net.proxy.flow_closed(WEB, net.now)  # the app went to the background
    assert net.proxy.bindings("bob", net.now) == []
    invite = request("INVITE", call_id="pushed-1")
    sent = net.send(invite, ALICE)
    assert [m for m, _ in sent if isinstance(m, Request)] == []  # held, nothing forwarded
    assert statuses(sent, ALICE) in ([], [100])
    (notice,) = notices
    assert notice.aor == "bob" and notice.call_id == "pushed-1"
    assert notice.params.prid == "dev-1" and notice.caller == f"sip:alice@{DOMAIN}"
    # the woken app registers again (on a new connection): 200, then the INVITE goes there
    bob = Client("bob")
    contact = f"<{BOB_CONTACT}>;pn-provider=fcm;pn-prid=dev-1"
    req = bob.register([contact], expires=600)
    (challenge,) = only(net.send(req, BOB), BOB)
    assert isinstance(challenge, Response)
    retry = bob.register([contact], expires=600)
    header = bob.digest.respond(challenge, req)
    assert header is not None
    retry.headers.add(*header)
    sent = net.send(retry, BOB)
    assert statuses(sent, BOB) == [200]
    (forwarded,) = requests_to(sent, BOB)
    assert forwarded.method == "INVITE" and forwarded.call_id == "pushed-1"
    assert str(forwarded.uri).startswith("sip:bob@192.0.2.20:40001")
    assert net.proxy.push.waiting == 0
    assert statuses(net.send(answer(forwarded, 200), BOB), ALICE) == [200]


def test_pushed_invite_not_claimed_in_time_gets_480_and_cancel_487() -> None:
    notices: list[PushNotice] = []
    net = Net(push_handler=notices.append, push_wait=20.0)
    net.bind("bob", WEB_CONTACT, WEB, **{"pn-provider": "apns", "pn-prid": "p"})
    net.proxy.flow_closed(WEB, net.now)
    net.send(request("INVITE", call_id="late"), ALICE)
    assert net.proxy.get_timer() == NOW + 20.0
    assert 480 in statuses(net.advance(NOW + 20.0), ALICE)
    invite = request("INVITE", call_id="cancelled", from_tag="a2")
    net.send(invite, ALICE)
    cancel = build_cancel(invite)  # §9.1
    assert sorted(statuses(net.send(cancel, ALICE), ALICE)) == [200, 487]
    assert len(notices) == 2 and net.proxy.push.waiting == 0
    # without push parameters a closed flow leaves nothing to wake: 480 at once
    net.bind("carol", "sip:carol@192.0.2.40:40002;transport=tcp", CAROL)
    net.proxy.flow_closed(CAROL, net.now)
    assert 480 in statuses(
        net.send(request("INVITE", to="carol", uri=f"sip:carol@{DOMAIN}", call_id="c3"), ALICE),
        ALICE,
    )
    assert len(notices) == 2
