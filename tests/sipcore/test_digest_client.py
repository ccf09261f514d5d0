from __future__ import annotations

from typing import Any

import pytest

from sipcore import (
    AuthHeader,
    NameAddr,
    Request,
    Response,
    SipUri,
    Via,
    build_request,
    build_response,
)
from sipcore.auth import authorization
from sipcore.digest_client import DigestClient
from sipcore.digest_server import make_challenge, verify
from tests.sipcore.helpers import params

ALICE = SipUri("example.com", user="alice")


def request(
    method: str = "REGISTER",
    *,
    to: SipUri = ALICE,
    call_id: str = "call-1",
    cseq: int = 1,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Request:
    return build_request(
        method,
        SipUri("example.com") if method == "REGISTER" else to,
        from_addr=NameAddr(ALICE, params={"tag": "f1"}),
        to_addr=NameAddr(to),
        call_id=call_id,
        cseq=cseq,
        via=Via("WSS", "client.invalid", params={"branch": f"z9hG4bK{cseq}"}),
        headers=headers or [],
        body=body,
        content_type="application/sdp" if body else None,
    )


def challenged(req: Request, *challenges: str, status: int = 401) -> Response:
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    return build_response(req, status, headers=[(name, c) for c in challenges])


def retry(req: Request, header: tuple[str, str] | None) -> Request:
    """The request re-sent with CSeq + 1 and the new credentials (replacing old ones)."""
    assert header is not None
    name, value = header
    kept = [(n, v) for n, v in req.headers if n.lower() not in ("via", "cseq", name.lower())]
    cseq = req.cseq.number + 1
    fields = [("Via", f"SIP/2.0/WSS client.invalid;branch=z9hG4bK{cseq}"), *kept]
    fields += [("CSeq", f"{cseq} {req.method}"), (name, value)]
    return Request(req.method, req.uri, fields, req.body)


def sent(req: Request, name: str = "Authorization") -> dict[str, str]:
    return params(req.headers.get(name) or "")


def ch(nonce: str = "N1", realm: str = "example.com", **kwargs: Any) -> str:
    """A challenge from the test server."""
    return make_challenge(realm, nonce=nonce, **kwargs)


def answer(client: DigestClient, req: Request, *challenges: str, status: int = 401) -> Request:
    """Challenge ``req``, let ``client`` answer, and give the retried request."""
    return retry(req, client.respond(challenged(req, *challenges, status=status), req))


def refused(client: DigestClient, req: Request, *challenges: str, status: int = 401) -> bool:
    """Whether ``client`` refuses to retry ``req`` after this challenge."""
    return client.respond(challenged(req, *challenges, status=status), req) is None


BOB = SipUri("example.com", user="bob")


def sent_nc(headers: list[tuple[str, str]]) -> list[str]:
    return [params(value)["nc"] for _, value in headers]


class TestDigestClient:
    def test_401_answered_with_authorization(self) -> None:
        client = DigestClient("alice", "pw")
        req = request()
        header = client.respond(challenged(req, ch("N1")), req)
        assert header is not None
        name, value = header
        assert name == "Authorization"
        p = params(value)
        assert (p["username"], p["realm"], p["nonce"], p["uri"], p["nc"]) == (
            "alice",
            "example.com",
            "N1",
            "sip:example.com",
            "00000001",
        )
        assert verify(AuthHeader.parse(value), method="REGISTER", password="pw")

    def test_407_answered_with_proxy_authorization(self) -> None:
        client = DigestClient("alice", "pw")
        req = request("INVITE", to=BOB, body=b"v=0\r\n")
        chall = ch("P1", "proxy.example.com", qop="auth-int")
        header = client.respond(challenged(req, chall, status=407), req)
        assert header is not None
        assert header[0] == "Proxy-Authorization"
        credentials = AuthHeader.parse(header[1])
        assert credentials.params["uri"] == "sip:bob@example.com"
        assert verify(credentials, method="INVITE", password="pw", body=b"v=0\r\n")

    @pytest.mark.parametrize("status", [200, 403, 404, 423, 500])
    def test_other_statuses_are_not_answered(self, status: int) -> None:
        req = request()
        response = build_response(req, status, headers=[("WWW-Authenticate", ch())])
        client = DigestClient("alice", "pw")
        assert client.respond(response, req) is None
        assert client.respond_all(response, req) is None

    def test_401_without_usable_challenge(self) -> None:
        client = DigestClient("alice", "pw")
        req = request()
        assert refused(client, req)
        assert refused(client, req, 'Basic realm="x"', "Digest garbage =")
        # a 401 is answered from WWW-Authenticate: a Proxy-Authenticate alone is not enough
        only_proxy = build_response(req, 401, headers=[("Proxy-Authenticate", ch())])
        assert client.respond(only_proxy, req) is None

    def test_malformed_lines_are_skipped(self) -> None:
        client = DigestClient("alice", "pw")
        retried = answer(client, request(), 'Digest realm="x', ch("N1"))
        assert sent(retried)["nonce"] == "N1"

    def test_wrong_password_never_loops(self) -> None:
        client = DigestClient("alice", "wrong")
        req2 = answer(client, request(), ch("N1"))
        # the server refuses the credentials: a new nonce, not stale
        assert refused(client, req2, ch("N2"))
        # the same nonce again is a refusal too, even when it claims to be stale
        assert refused(client, req2, ch("N1"))
        assert refused(client, req2, ch("N1", stale=True))

    def test_stale_retries_with_the_new_nonce(self) -> None:
        client = DigestClient("alice", "pw")
        req2 = answer(client, request(), ch("N1"))
        req3 = answer(client, req2, ch("N2", stale=True))
        assert (sent(req3)["nonce"], sent(req3)["nc"]) == ("N2", "00000001")
        credentials = AuthHeader.parse(req3.headers.get("Authorization") or "")
        assert verify(credentials, method="REGISTER", password="pw")
        # one retry per nonce: a stale challenge with a nonce already answered is refused
        assert refused(client, req3, ch("N1", stale=True))
        # a fresh stale nonce is answered
        assert sent(answer(client, req3, ch("N3", stale=True)))["nonce"] == "N3"

    def test_stale_is_case_insensitive(self) -> None:
        client = DigestClient("alice", "pw")
        req2 = answer(client, request(), ch("N1"))
        assert not refused(client, req2, 'Digest realm="example.com", nonce="N2", stale=TRUE')

    def test_nonce_count_increases_for_later_requests(self) -> None:
        client = DigestClient("alice", "pw")
        req2 = answer(client, request(), ch("N1"))
        assert sent(req2)["nc"] == "00000001"
        cnonce = sent(req2)["cnonce"]
        for cseq, expected in [(3, "00000002"), (4, "00000003")]:
            headers = client.authorize(request(cseq=cseq))
            assert [name for name, _ in headers] == ["Authorization"]
            p = params(headers[0][1])
            assert (p["nonce"], p["nc"], p["cnonce"]) == ("N1", expected, cnonce)
            assert verify(AuthHeader.parse(headers[0][1]), method="REGISTER", password="pw")

    def test_same_nonce_for_a_new_request_continues_the_count(self) -> None:
        client = DigestClient("alice", "pw")
        first = answer(client, request(cseq=1), ch("N1"))
        # a request that carried nothing gets a challenge with the nonce already in use
        other = answer(client, request(cseq=5), ch("N1"))
        assert (sent(first)["nc"], sent(other)["nc"]) == ("00000001", "00000002")
        assert sent(first)["cnonce"] == sent(other)["cnonce"]

    def test_rejected_preemptive_credentials_get_one_fresh_answer(self) -> None:
        client = DigestClient("alice", "pw")
        answer(client, request(), ch("N1"))
        pre = request(cseq=10)
        pre = Request(pre.method, pre.uri, [*pre.headers, *client.authorize(pre)])
        assert sent(pre)["nc"] == "00000002"
        # the server forgot N1 and does not say stale: credentials sent before any challenge
        # to this request are no answer to it, so this challenge gets one
        req2 = answer(client, pre, ch("N2"))
        assert (sent(req2)["nonce"], sent(req2)["nc"]) == ("N2", "00000001")
        # and when that answer is refused too, the client stops
        assert refused(client, req2, ch("N3"))

    def test_unknown_credentials_count_as_an_answer(self) -> None:
        client = DigestClient("alice", "pw")
        foreign = authorization(
            ch("X"), method="REGISTER", uri="sip:example.com", username="alice", password="pw"
        )
        req = request(headers=[("Authorization", foreign)])
        assert refused(client, req, ch("Y"))
        assert not refused(client, req, ch("Y", stale=True))

    def test_credentials_for_another_realm_do_not_block(self) -> None:
        client = DigestClient("alice", "pw")
        other = authorization(
            ch("X", "other.org"), method="REGISTER", uri="sip:x", username="a", password="b"
        )
        req = request(headers=[("Authorization", other)])
        assert not refused(client, req, ch("Y"))

    def test_www_credentials_scoped_by_to(self) -> None:
        # RFC 3261 §22.2: cached "for a given value of the To header field and realm"
        client = DigestClient("alice", "pw")
        answer(client, request("INVITE", to=BOB), ch("N1"))
        assert len(client.authorize(request("INVITE", to=BOB, call_id="call-2"))) == 1
        assert client.authorize(request("INVITE", to=SipUri("example.com", user="carol"))) == []

    def test_proxy_credentials_scoped_by_call_id(self) -> None:
        # RFC 3261 §22.3: proxy credentials are reused for requests with the same Call-ID
        client = DigestClient("alice", "pw")
        answer(client, request("INVITE", to=BOB), ch("P1", "proxy.example.com"), status=407)
        bye = request("BYE", to=BOB, call_id="call-1", cseq=2)
        assert [name for name, _ in client.authorize(bye)] == ["Proxy-Authorization"]
        assert client.authorize(request("INVITE", to=BOB, call_id="call-2")) == []

    def test_outbound_proxy_realm_crosses_dialogs(self) -> None:
        client = DigestClient("alice", "pw", proxy_realms=["proxy.example.com"])
        answer(client, request("INVITE", to=BOB), ch("P1", "proxy.example.com"), status=407)
        headers = client.authorize(request("INVITE", to=SipUri("x.org", user="c"), call_id="c2"))
        assert [(n, params(v)["nc"]) for n, v in headers] == [("Proxy-Authorization", "00000002")]

    @pytest.mark.parametrize("method", ["ACK", "CANCEL"])
    def test_ack_and_cancel_are_never_challenged(self, method: str) -> None:
        client = DigestClient("alice", "pw")
        answer(client, request(), ch("N1"))
        req = request(method, to=SipUri("example.com", user="alice"))
        assert client.authorize(req) == []
        assert refused(client, req, ch("N2"))

    def test_strongest_challenge_of_a_realm(self) -> None:
        client = DigestClient("alice", "pw")
        retried = answer(
            client,
            request(),
            ch("a", algorithm="MD5"),
            ch("b", algorithm="SHA-512-256"),
            ch("c", algorithm="SHA-256"),
        )
        assert (sent(retried)["algorithm"], sent(retried)["nonce"]) == ("SHA-512-256", "b")

    def test_lookup_per_realm(self) -> None:
        def lookup(realm: str) -> tuple[str, str] | None:
            return ("alice-proxy", "proxy-pw") if realm == "proxy.example.com" else None

        client = DigestClient("alice", "pw", lookup=lookup)
        req = request("INVITE", to=BOB)
        retried = answer(client, req, ch("P", "proxy.example.com"), status=407)
        credentials = AuthHeader.parse(retried.headers.get("Proxy-Authorization") or "")
        assert credentials.params["username"] == "alice-proxy"
        assert verify(credentials, method="INVITE", password="proxy-pw")
        assert sent(answer(client, req, ch("W")))["username"] == "alice"

    def test_several_realms(self) -> None:
        client = DigestClient("alice", "pw")
        req = request("INVITE", to=BOB)
        # RFC 3261 §22.3: a forking proxy puts every branch's challenge in one response
        response = build_response(
            req,
            407,
            headers=[
                ("Proxy-Authenticate", ch("A", "a.example.com")),
                ("Proxy-Authenticate", ch("B", "b.example.com")),
                ("WWW-Authenticate", ch("C", "bob.example.com")),
            ],
        )
        header = client.respond(response, req)
        assert header is not None
        assert (header[0], params(header[1])["realm"]) == ("Proxy-Authorization", "a.example.com")
        headers = DigestClient("alice", "pw").respond_all(response, req)
        assert headers is not None
        assert [(n, params(v)["realm"]) for n, v in headers] == [
            ("Authorization", "bob.example.com"),
            ("Proxy-Authorization", "a.example.com"),
            ("Proxy-Authorization", "b.example.com"),
        ]

    def test_no_retry_when_one_realm_rejected(self) -> None:
        client = DigestClient("alice", "pw")
        req2 = answer(client, request("INVITE", to=BOB), ch("A", "a.org"), status=407)
        response = build_response(
            req2,
            407,
            headers=[
                ("Proxy-Authenticate", ch("A", "a.org")),
                ("Proxy-Authenticate", ch("B", "b.org")),
            ],
        )
        assert client.respond_all(response, req2) is None
        assert client.respond(response, req2) is None

    def test_reset_forgets(self) -> None:
        client = DigestClient("alice", "pw")
        answer(client, request(), ch())
        assert client.authorize(request(cseq=2))
        client.reset()
        assert client.authorize(request(cseq=3)) == []

    def test_realm_without_answerable_challenge_is_skipped(self) -> None:
        client = DigestClient("alice", "pw")
        req = request()
        sha1 = 'Digest realm="a.org", nonce="X", algorithm=SHA-1, qop="auth"'
        assert refused(client, req, sha1)
        assert sent(answer(client, req, sha1, ch("Y")))["realm"] == "example.com"

    def test_request_without_to_or_call_id(self) -> None:
        client = DigestClient("alice", "pw")
        req = request()
        bare = Request("OPTIONS", req.uri, [("Via", "SIP/2.0/WSS x.invalid;branch=z9hG4bK1")])
        response = Response(401, headers=[("WWW-Authenticate", ch())])
        assert client.respond(response, bare) is None
        assert client.authorize(bare) == []

    def test_used_up_nonce_is_forgotten(self) -> None:
        client = DigestClient("alice", "pw")
        answer(client, request(), ch("N1"))
        (session,) = client._sessions.values()
        session.nc = 2**32 - 2
        assert sent_nc(client.authorize(request(cseq=2))) == ["ffffffff"]
        assert client.authorize(request(cseq=3)) == []  # nc cannot go past ffffffff
        assert not client._sessions

    def test_cache_is_bounded(self) -> None:
        client = DigestClient("alice", "pw")
        for i in range(300):
            answer(client, request("MESSAGE", to=SipUri("example.com", user=f"u{i}")), ch(f"N{i}"))
        assert len(client._sessions) == 256
        assert client.authorize(request("MESSAGE", to=SipUri("example.com", user="u0"))) == []
        assert client.authorize(request("MESSAGE", to=SipUri("example.com", user="u299")))

    def test_password_never_shown(self) -> None:
        secret = "Pa55-w0rd-XYZ"

        def lookup(realm: str) -> tuple[str, str] | None:
            return ("proxy-user", secret + "-proxy") if realm == "proxy.example.com" else None

        client = DigestClient("alice", secret, lookup=lookup)
        assert secret not in repr(client)
        assert secret not in str(client)
        answer(client, request(), ch())
        answer(client, request("INVITE", to=BOB), ch("P", "proxy.example.com"), status=407)
        client.authorize(request(cseq=2))
        sessions = list(client._sessions.values())
        assert len(sessions) == 2
        for text in (repr(client), str(client), repr(sessions)):
            assert secret not in text
        assert repr(client) == (
            "DigestClient(username='alice', realms=['example.com', 'proxy.example.com'])"
        )
        assert client.username == "alice"
        with pytest.raises(TypeError):  # no __dict__ to dump
            vars(client)
