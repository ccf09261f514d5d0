"""The REGISTER machine against a scripted registrar, on a fake clock."""

from __future__ import annotations

import pytest

from sipcore import Response, SipUri, build_response, parse_message
from sipcore.digest_server import make_challenge
from sipcore.message import Request
from sipcore.registration import (
    AuthenticationFailed,
    Registered,
    Registration,
    RegistrationConfig,
    RegistrationSent,
    RegistrationTerminated,
    RegState,
    Unregistered,
)

AOR = SipUri("example.com", user="alice")
CONTACT = SipUri("k2t0.invalid", user="x7", params={"transport": "ws"})
INSTANCE = "urn:uuid:00000000-0000-4000-8000-000000000001"


def machine(**kwargs: object) -> Registration:
    config = RegistrationConfig(aor=AOR, password="alicepw", instance_id=INSTANCE, **kwargs)  # type: ignore[arg-type]
    reg = Registration(config)
    reg.set_flow("WSS", "k2t0.invalid", None, CONTACT)
    return reg


def ok(request: Request, expires: int | None = 600, others: int = 0) -> Response:
    contact = request.contacts[0] if request.contacts else None
    headers = []
    if contact is not None and expires is not None:
        params = dict(contact.params)
        params["expires"] = str(expires)
        headers.append(("Contact", str(contact.replace(params=params))))
    headers += [("Contact", f"<sip:other{i}@192.0.2.{i}>;expires=30") for i in range(others)]
    return build_response(request, 200, to_tag="reg", headers=headers)


def challenge(request: Request, status: int = 401, **kwargs: object) -> Response:
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    value = make_challenge("example.com", **kwargs)  # type: ignore[arg-type]
    return build_response(request, status, to_tag="reg", headers=[(name, value)])


def kinds(reg: Registration) -> list[str]:
    out = [type(e).__name__ for e in reg.events]
    reg.events.clear()
    return out


def test_register_request_per_rfc3261_and_rfc5626() -> None:
    reg = machine()
    req = parse_message(bytes(reg.register(0.0)))
    assert isinstance(req, Request)
    assert req.method == "REGISTER"
    assert str(req.uri) == "sip:example.com"
    assert req.to.uri == AOR
    assert req.from_.uri == AOR
    assert req.from_.tag
    assert req.to.tag is None
    (contact,) = req.contacts
    assert contact.uri == CONTACT
    assert contact.params["+sip.instance"] == f'"<{INSTANCE}>"'
    assert contact.params["reg-id"] == "1"
    assert contact.expires == 600
    assert req.expires == 600
    assert req.top_via.transport == "WSS"
    assert req.top_via.host == "k2t0.invalid"
    assert "outbound" in req.supported
    assert kinds(reg) == ["RegistrationSent"]


def test_digest_challenge_then_registered_then_refresh() -> None:
    reg = machine()
    first = reg.register(0.0)
    retry = reg.response(challenge(first), 0.1)
    assert retry is not None
    assert retry.cseq.number == first.cseq.number + 1
    assert retry.call_id == first.call_id  # §10.2.4: one Call-ID
    assert retry.authorization[0].params["username"] == "alice"
    assert reg.response(ok(retry, expires=300), 0.2) is None
    assert reg.state is RegState.REGISTERED
    events = reg.events
    assert isinstance(events[-1], Registered)
    assert events[-1].expires == 300
    reg.events.clear()
    # refresh at 80 % of the granted lifetime
    assert reg.get_timer() == pytest.approx(0.2 + 240)
    assert reg.handle_timer(100.0) is None
    refresh = reg.handle_timer(240.2)
    assert refresh is not None
    assert refresh.cseq.number == retry.cseq.number + 1
    assert refresh.authorization, "the cached challenge authorizes the refresh (nc=2)"
    assert refresh.authorization[0].params["nc"] == "00000002"


def test_wrong_password_never_loops() -> None:
    reg = machine()
    first = reg.register(0.0)
    retry = reg.response(challenge(first, nonce="n1"), 0.1)
    assert retry is not None
    # the registrar rejects the answer with a fresh challenge that is not stale
    assert reg.response(challenge(retry, nonce="n2"), 0.2) is None
    assert reg.state is RegState.TERMINATED
    assert kinds(reg)[-2:] == ["AuthenticationFailed", "RegistrationTerminated"]


def test_stale_nonce_retried_silently() -> None:
    reg = machine()
    first = reg.register(0.0)
    retry = reg.response(challenge(first, nonce="n1"), 0.1)
    assert retry is not None
    again = reg.response(challenge(retry, nonce="n2", stale=True), 0.2)
    assert again is not None
    assert again.authorization[0].params["nonce"] == "n2"


def test_proxy_challenge_uses_proxy_authorization() -> None:
    reg = machine()
    first = reg.register(0.0)
    retry = reg.response(challenge(first, status=407), 0.1)
    assert retry is not None
    assert retry.proxy_authorization and not retry.authorization


def test_interval_too_brief() -> None:
    reg = machine(expires=30)
    first = reg.register(0.0)
    brief = build_response(first, 423, to_tag="r", headers=[("Min-Expires", "60")])
    retry = reg.response(brief, 0.1)
    assert retry is not None
    assert retry.expires == 60
    assert retry.contacts[0].expires == 60
    brief_again = build_response(retry, 423, to_tag="r", headers=[("Min-Expires", "60")])
    assert reg.response(brief_again, 0.2) is None
    assert reg.state is RegState.TERMINATED


def test_retry_after_and_final_failures() -> None:
    reg = machine()
    first = reg.register(0.0)
    busy = build_response(first, 503, to_tag="r", headers=[("Retry-After", "20 (maintenance)")])
    assert reg.response(busy, 1.0) is None
    assert reg.get_timer() == 21.0
    again = reg.handle_timer(21.0)
    assert again is not None
    assert reg.response(build_response(again, 403, to_tag="r"), 22.0) is None
    (terminated,) = [e for e in reg.events if isinstance(e, RegistrationTerminated)]
    assert terminated.status == 403
    assert terminated.reason == "403 Forbidden"


def test_binding_missing_from_200() -> None:
    reg = machine()
    first = reg.register(0.0)
    reg.response(ok(first, expires=None, others=2), 0.1)
    assert reg.state is RegState.TERMINATED


def test_unregister_one_and_all() -> None:
    reg = machine()
    first = reg.register(0.0)
    retry = reg.response(challenge(first), 0.1)
    assert retry is not None
    reg.response(ok(retry), 0.2)
    bye = reg.unregister(1.0)
    assert bye is not None
    assert bye.contacts[0].expires == 0
    assert bye.expires == 0
    reg.response(build_response(bye, 200, to_tag="r"), 1.1)
    assert reg.state is RegState.UNREGISTERED
    assert isinstance(reg.events[-1], Unregistered)
    assert reg.get_timer() is None
    star = reg.unregister(2.0, all_bindings=True)
    assert star is not None
    assert star.contact_star
    assert star.expires == 0


def test_timeout_and_flow_loss() -> None:
    reg = machine()
    reg.register(0.0)
    reg.failed("no final response", 408)
    assert reg.state is RegState.TERMINATED
    assert isinstance(reg.events[-1], RegistrationTerminated)
    reg.register(1.0)
    reg.flow_lost()
    assert reg.state is RegState.UNREGISTERED


def test_late_response_is_ignored() -> None:
    reg = machine()
    first = reg.register(0.0)
    second = reg.register(0.5)
    assert reg.response(ok(first), 0.6) is None
    assert reg.state is RegState.REGISTERING
    reg.response(ok(second), 0.7)
    assert reg.state is RegState.REGISTERED


def test_bearer_token_and_its_failure() -> None:
    tokens = iter(["tok-1", "tok-2"])
    reg = Registration(RegistrationConfig(aor=AOR), token=lambda: next(tokens))
    reg.set_flow("WSS", "h.invalid", None, CONTACT)
    first = reg.register(0.0)
    assert first.headers.get("Authorization") == "Bearer tok-1"
    refused = build_response(
        first,
        401,
        to_tag="r",
        headers=[
            (
                "WWW-Authenticate",
                'Bearer realm="example.com", error="invalid_token", '
                'error_description="The access token expired"',
            )
        ],
    )
    assert reg.response(refused, 0.1) is None
    failed = [e for e in reg.events if isinstance(e, AuthenticationFailed)]
    assert failed[0].kind == "expired"
    assert reg.state is RegState.TERMINATED
    # the refresh path: a new token from the provider on the next register()
    assert reg.register(1.0).headers.get("Authorization") == "Bearer tok-2"


def test_password_not_in_repr() -> None:
    reg = machine()
    assert "alicepw" not in repr(reg.config)
    assert all(not isinstance(e, RegistrationSent) or "alicepw" not in repr(e) for e in reg.events)


def test_new_nonce_after_server_restart_without_qop() -> None:
    # a restarted registrar forgets its nonces: the pre-emptive credentials of the next
    # REGISTER get a fresh non-stale challenge, which deserves one answer (RFC 2069 style, no qop)
    reg = machine()
    first = reg.register(0.0)
    retry = reg.response(challenge(first, nonce="n1", qop=""), 0.1)
    assert retry is not None
    reg.response(ok(retry), 0.2)
    reg.flow_lost()
    again = reg.register(10.0)
    assert again.authorization  # pre-emptive, with the old nonce
    answer = reg.response(challenge(again, nonce="n2", qop=""), 10.1)
    assert answer is not None
    assert answer.authorization[0].params["nonce"] == "n2"
    assert reg.response(challenge(answer, nonce="n3", qop=""), 10.2) is None  # then no loop


def test_bearer_challenge_answered_once_with_a_token() -> None:
    """RFC 8898 §2.3: a REGISTER sent without a token is challenged; the retry carries it."""
    tokens = iter([None, "tok-9"])
    reg = Registration(RegistrationConfig(aor=AOR), token=lambda: next(tokens))
    reg.set_flow("WSS", "h.invalid", None, CONTACT)
    first = reg.register(0.0)
    assert first.headers.get("Authorization") is None
    challenge = build_response(
        first, 401, to_tag="r", headers=[("WWW-Authenticate", 'Bearer realm="example.com"')]
    )
    retry = reg.response(challenge, 0.1)
    assert retry is not None
    assert retry.headers.get("Authorization") == "Bearer tok-9"
    assert retry.cseq.number == first.cseq.number + 1
    # the same challenge to the request that carried the token is a failure, not a loop
    again = build_response(
        retry, 401, to_tag="r", headers=[("WWW-Authenticate", 'Bearer realm="example.com"')]
    )
    assert reg.response(again, 0.2) is None
    assert reg.state is RegState.TERMINATED
    assert [e.kind for e in reg.events if isinstance(e, AuthenticationFailed)] == ["invalid"]


def test_extra_headers_and_a_rotated_password() -> None:
    from sipcore.digest_server import verify

    reg = machine(headers=(("X-Account-Sid", "AC1"),))
    first = reg.register(0.0)
    assert first.headers.get("X-Account-Sid") == "AC1"
    retry = reg.response(challenge(first, nonce="n1"), 0.1)
    assert retry is not None and retry.headers.get("X-Account-Sid") == "AC1"
    assert reg.response(challenge(retry, nonce="n2"), 0.2) is None  # rejected: no retry
    assert "AuthenticationFailed" in kinds(reg) and reg.state is RegState.TERMINATED
    # the secret was rotated: the next REGISTER carries no stale credentials, and the answer
    # to the fresh challenge is computed with the new password
    reg.set_password("rotated")
    again = reg.register(1.0)
    assert again.headers.get("Authorization") is None
    answered = reg.response(challenge(again, nonce="n3"), 1.1)
    assert answered is not None
    (credentials,) = answered.authorization
    assert verify(credentials, method="REGISTER", password="rotated", expected_realm="example.com")
    assert not verify(
        credentials, method="REGISTER", password="alicepw", expected_realm="example.com"
    )


def test_retry_after_zero_is_bounded_and_backs_off() -> None:
    # §21.5.4 / RFC 5626 §4.5: a registrar answering 503 Retry-After: 0 forever gets
    # max_retries more REGISTERs, spaced 1, 2, 4, 8, 16 s, then the registration ends
    reg = machine()
    request = reg.register(0.0)
    now, sent_at = 0.0, [0.0]
    for _ in range(10):
        busy = build_response(request, 503, to_tag="r", headers=[("Retry-After", "0")])
        assert reg.response(busy, now) is None
        deadline = reg.get_timer()
        if deadline is None:
            break
        now = deadline
        retry = reg.handle_timer(now)
        assert retry is not None
        request = retry
        sent_at.append(now)
    assert sent_at == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]
    assert reg.state is RegState.TERMINATED
    (terminated,) = [e for e in reg.events if isinstance(e, RegistrationTerminated)]
    assert terminated.status == 503


def test_a_success_resets_the_retry_count() -> None:
    reg = machine()
    first = reg.register(0.0)
    busy = build_response(first, 503, to_tag="r", headers=[("Retry-After", "3")])
    assert reg.response(busy, 0.0) is None
    assert reg.get_timer() == 3.0  # more than the 1 s floor: as asked
    again = reg.handle_timer(3.0)
    assert again is not None
    challenged = reg.response(challenge(again), 3.1)
    assert challenged is not None
    reg.response(ok(challenged), 3.2)
    assert reg.state is RegState.REGISTERED
    refresh = reg.handle_timer(reg.get_timer() or 0.0)
    assert refresh is not None
    busy = build_response(refresh, 503, to_tag="r", headers=[("Retry-After", "0")])
    reg.response(busy, 500.0)
    assert reg.get_timer() == 501.0  # the first retry in a row again: 1 s floor
