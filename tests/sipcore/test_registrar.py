"""The embedded registrar without sockets: location table, digest, REGISTER."""

from __future__ import annotations

from sipcore import (
    NameAddr,
    Request,
    Response,
)
from sipcore.auth import authorization
from sipcore.bearer import bearer_error
from sipcore.headers import AuthHeader
from sipcore.proxy import (
    AuthResult,
    Binding,
    DigestAuthenticator,
    LocationTable,
)
from sipcore.uri import parse_uri
from tests.sipcore.proxy_helpers import (
    ALICE,
    ALICE_CONTACT,
    BOB,
    BOB2,
    BOB2_CONTACT,
    BOB_CONTACT,
    DOMAIN,
    NOW,
    USERS,
    WEB,
    Client,
    register,
    registrar,
    request,
)

# -- location table -------------------------------------------------------------------------------


def test_location_table_expiry_keys_and_flows() -> None:
    table = LocationTable()
    contact = NameAddr.parse(f"<{BOB_CONTACT}>")
    table.save(Binding("bob", contact, BOB, NOW + 10, "c", 1))
    table.save(Binding("bob", NameAddr.parse(f"<{BOB2_CONTACT}>;q=0.9"), BOB2, NOW + 20, "c", 2))
    assert [b.flow for b in table.lookup("bob", NOW)] == [BOB, BOB2]
    # the same Contact URI replaces its binding
    table.save(Binding("bob", contact, BOB, NOW + 30, "c", 3))
    assert len(table) == 2
    assert table.get("bob", ("uri", *("sip", "bob", "192.0.2.20", "40001", "tcp")), NOW)
    found = table.find_contact(parse_uri("sip:bob@192.0.2.21:5062;foo=bar"), NOW)
    assert found is not None and found.flow == BOB2
    assert table.lookup("bob", NOW + 25)[0].remaining(NOW + 25) == 5
    # expired bindings are purged on access
    assert [b.flow for b in table.lookup("bob", NOW + 25)] == [BOB]
    assert table.aors(NOW + 31) == []
    assert len(table) == 0
    # a closed connection takes its bindings with it; UDP has no connection to lose
    table.save(Binding("bob", contact, BOB, NOW + 30, "c", 4))
    table.save(Binding("bob", NameAddr.parse(f"<{BOB2_CONTACT}>"), BOB2, NOW + 30, "c", 5))
    assert table.flow_closed(BOB2) == []
    assert [b.flow for b in table.flow_closed(BOB)] == [BOB]
    assert [b.flow for b in table.lookup("bob", NOW)] == [BOB2]
    table.clear("bob")
    assert table.lookup("bob", NOW) == []


# -- digest ---------------------------------------------------------------------------------------


def auth_request(method: str = "REGISTER", **kw: object) -> Request:
    return request(method, f"sip:{DOMAIN}", **kw)  # type: ignore[arg-type]


def test_digest_challenges_offer_md5_and_sha256_and_verify() -> None:
    auth = DigestAuthenticator(DOMAIN, USERS, max_age=60)
    headers = auth.challenges(NOW, proxy=False)
    assert [name for name, _ in headers] == ["WWW-Authenticate"] * 2
    algorithms = [AuthHeader.parse(v).params["algorithm"] for _, v in headers]
    assert algorithms == ["MD5", "SHA-256"]  # MD5 on top for clients that read only that
    req = auth_request(user="bob", to="bob")
    for _, challenge in headers:  # either algorithm is accepted
        signed = auth_request(user="bob", to="bob")
        value = authorization(
            challenge, method="REGISTER", uri=str(req.uri), username="bob", password="bobpw"
        )
        signed.headers.add("Authorization", value)
        assert auth.authenticate(signed, NOW + 1, proxy=False).user == "bob"
        # the nonce gets old: right credentials are "stale", not wrong
        late = auth.authenticate(signed, NOW + 61, proxy=False)
        assert late.user is None and late.stale
        # a Proxy-Authorization is not an Authorization
        assert auth.authenticate(signed, NOW + 1, proxy=True).user is None
    wrong = auth_request(user="bob", to="bob")
    wrong.headers.add(
        "Authorization",
        authorization(
            headers[0][1], method="REGISTER", uri=str(req.uri), username="bob", password="x"
        ),
    )
    assert auth.authenticate(wrong, NOW + 1, proxy=False) == AuthResult(None)
    stranger = auth_request(user="eve", to="eve")
    stranger.headers.add(
        "Authorization",
        authorization(
            headers[0][1], method="REGISTER", uri=str(req.uri), username="eve", password="x"
        ),
    )
    assert auth.authenticate(stranger, NOW + 1, proxy=False).user is None
    # a nonce that is not ours is not stale either
    forged = auth_request(user="bob", to="bob")
    forged.headers.add(
        "Authorization",
        authorization(
            'Digest realm="example.com", nonce="abc", algorithm=MD5, qop="auth"',
            method="REGISTER",
            uri=str(req.uri),
            username="bob",
            password="bobpw",
        ),
    )
    assert auth.authenticate(forged, NOW + 1, proxy=False).stale is False


def test_register_is_challenged_then_bound() -> None:
    reg = registrar()
    alice = Client("alice")
    first = reg.register(alice.register([f"<{ALICE_CONTACT}>"]), ALICE, NOW)
    assert first.status_code == 401
    assert len(first.www_authenticate) == 2
    assert first.to.tag is not None
    ok = register(reg, alice, [f"<{ALICE_CONTACT}>"], expires=600)
    assert ok.status_code == 200
    assert [str(c) for c in ok.contacts] == [f"<{ALICE_CONTACT}>;expires=600"]
    (binding,) = reg.location.lookup("alice", NOW)
    assert binding.flow == ALICE and binding.remaining(NOW + 100) == 500
    # a query (no Contact) lists the bindings with their remaining time (§10.3 step 8)
    query = register(reg, alice, now=NOW + 100)
    assert [c.expires for c in query.contacts] == [500]


def test_register_wrong_password_and_other_users_aor() -> None:
    reg = registrar()
    wrong = Client("alice", "nope")
    assert register(reg, wrong, [f"<{ALICE_CONTACT}>"]).status_code == 401
    # authenticated as bob, registering alice's AOR
    bob = Client("bob")
    response = register(reg, bob, [f"<{ALICE_CONTACT}>"], to="alice")
    assert response.status_code == 403
    assert reg.location.lookup("alice", NOW) == []


def test_register_expiry_rules() -> None:
    reg = registrar(min_expires=60, max_expires=3600, default_expires=1800)
    alice = Client("alice")
    too_brief = register(reg, alice, [f"<{ALICE_CONTACT}>"], expires=30)
    assert too_brief.status_code == 423
    assert too_brief.min_expires == 60
    capped = register(reg, alice, [f"<{ALICE_CONTACT}>;expires=99999"])
    assert capped.contacts[0].expires == 3600
    default = register(reg, alice, [f"<{BOB2_CONTACT}>"])  # neither parameter nor header
    assert sorted(c.expires or 0 for c in default.contacts) == [1800, 3600]
    removed = register(reg, alice, [f"<{ALICE_CONTACT}>"], expires=0)
    assert [str(c.uri) for c in removed.contacts] == [BOB2_CONTACT]
    # bindings expire with the clock
    assert reg.location.lookup("alice", NOW + 1801) == []


def test_register_star_removes_every_binding() -> None:
    reg = registrar()
    alice = Client("alice")
    register(reg, alice, [f"<{ALICE_CONTACT}>", f"<{BOB2_CONTACT}>"], expires=600)
    assert len(reg.location.lookup("alice", NOW)) == 2
    assert register(reg, alice, ["*"], expires=600).status_code == 400
    cleared = register(reg, alice, ["*"], expires=0)
    assert cleared.status_code == 200 and cleared.contacts == []
    assert reg.location.lookup("alice", NOW) == []


def test_register_out_of_order_cseq_fails() -> None:
    reg = registrar()
    alice = Client("alice")
    register(reg, alice, [f"<{ALICE_CONTACT}>"], expires=600)
    alice.cseq -= 3  # same Call-ID, a CSeq below the stored one
    assert register(reg, alice, [f"<{ALICE_CONTACT}>"], expires=300).status_code == 500


def test_outbound_bindings_are_keyed_by_instance_and_reg_id() -> None:
    reg = registrar()
    alice = Client("alice")
    instance = '"<urn:uuid:00000000-0000-4000-8000-000000000001>"'
    supported = [("Supported", "path, outbound")]
    first = register(
        reg,
        alice,
        [f"<sip:a@one.invalid;transport=ws>;+sip.instance={instance};reg-id=1"],
        expires=600,
        headers=supported,
        flow=WEB,
    )
    assert first.status_code == 200
    assert first.require == ["outbound"]
    # a new connection, a new Contact: the same instance and reg-id replace the binding
    second = register(
        reg,
        alice,
        [f"<sip:b@two.invalid;transport=ws>;+sip.instance={instance};reg-id=1"],
        expires=600,
        headers=supported,
        flow=BOB,
    )
    (binding,) = reg.location.lookup("alice", NOW)
    assert binding.uri.host == "two.invalid" and binding.flow == BOB
    assert binding.instance == "urn:uuid:00000000-0000-4000-8000-000000000001"
    assert binding.reg_id == 1
    assert second.contacts[0].params["+sip.instance"] == instance
    # another reg-id is another flow of the same instance (RFC 5626 §6)
    register(
        reg,
        alice,
        [f"<sip:c@three.invalid;transport=ws>;+sip.instance={instance};reg-id=2"],
        expires=600,
        headers=supported,
    )
    assert len(reg.location.lookup("alice", NOW)) == 2


def test_malformed_register_changes_nothing() -> None:
    reg = registrar()
    alice = Client("alice")
    register(reg, alice, [f"<{ALICE_CONTACT}>"], expires=600)
    for bad in (f"<{BOB2_CONTACT}>;q=2", f"<{BOB2_CONTACT}>;expires=soon", "<tel:+1555>"):
        response = register(reg, alice, [bad])
        assert response.status_code == 400, bad
        assert response.reason.startswith("Bad Request") or "Contact" in response.reason
    assert [str(b.uri) for b in reg.location.lookup("alice", NOW)] == [ALICE_CONTACT]


def test_remaining_is_not_pushed_up_by_float_error() -> None:
    now = 15845.03494819458  # (now + 600) - now == 600.0000000000018
    contact = NameAddr.parse(f"<{BOB_CONTACT}>")
    assert Binding("bob", contact, BOB, now + 600, "c", 1).remaining(now) == 600


# -- Bearer tokens (RFC 8898) ---------------------------------------------------------------------


def test_bearer_token_registers_and_refusals_say_why() -> None:
    verdicts = {"tok-ok": "ok", "tok-old": "expired"}
    reg = registrar(token_validator=lambda user, token: verdicts.get(token, "invalid"))

    def attempt(token: str | None, user: str = "bob") -> Response:
        headers = [("Contact", f"<{BOB_CONTACT}>")]
        if token is not None:
            headers.append(("Authorization", f"Bearer {token}"))
        req = request(
            "REGISTER", f"sip:{DOMAIN}", user=user, to=user, contact=None, headers=headers
        )
        return reg.register(req, BOB, NOW)

    ok = attempt("tok-ok")
    assert ok.status_code == 200 and len(ok.contacts) == 1
    for token, kind in (("tok-old", "expired"), ("forged", "invalid")):
        refused = attempt(token)
        assert refused.status_code == 401
        (challenge,) = refused.www_authenticate
        assert challenge.scheme == "Bearer" and bearer_error(challenge) == kind
    # no credentials: digest and Bearer are both offered
    bare = attempt(None)
    assert [c.scheme for c in bare.www_authenticate] == ["Digest", "Digest", "Bearer"]
    assert "error" not in bare.www_authenticate[-1].params
    # a user unknown to the digest table registers with a token alone
    assert attempt("tok-ok", user="dave").status_code == 200
