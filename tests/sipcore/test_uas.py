from __future__ import annotations

from pathlib import Path

from sipcore import parse_message
from sipcore.message import Request
from sipcore.uas import DEFAULT_POLICY, UasPolicy, check_request, options_response
from tests.sipcore.helpers import request


def check(req: Request, policy: UasPolicy = DEFAULT_POLICY) -> int | None:
    response = check_request(req, policy, "tag1")
    return None if response is None else response.status_code


def test_method_checks() -> None:
    assert check(request("OPTIONS")) is None
    assert check(request("SUBSCRIBE")) == 405  # known, not handled
    unknown = check_request(request("FOOBAR"), DEFAULT_POLICY, "t")
    assert unknown is not None
    assert unknown.status_code == 501
    assert unknown.allow == list(DEFAULT_POLICY.allow)


def test_unknown_uri_scheme() -> None:
    data = bytes(request("OPTIONS")).replace(
        b"OPTIONS sip:bob@192.0.2.1 ", b"OPTIONS nobodyknowsthisscheme:x "
    )
    req = parse_message(data)
    assert isinstance(req, Request)
    assert check(req) == 416


def test_require() -> None:
    req = request("OPTIONS")
    req.headers.add("Require", "outbound, nothingweknow, 100rel")
    response = check_request(req, DEFAULT_POLICY, "t")
    assert response is not None
    assert response.status_code == 420
    assert response.unsupported == ["nothingweknow", "100rel"]
    ack = request("ACK")
    ack.headers.add("Require", "nothingweknow")
    assert check(ack) is None  # never for ACK (§8.2.2.3)


def test_body_checks() -> None:
    req = request("INVITE")
    req.body = b"<xml/>"
    req.headers.add("Content-Type", "application/xml")
    response = check_request(req, DEFAULT_POLICY, "t")
    assert response is not None
    assert response.status_code == 415
    assert response.headers.get("Accept") == "application/sdp"
    req = request("INVITE")
    req.body = b"v=0"
    req.headers.add("Content-Type", "application/sdp")
    req.headers.add("Content-Encoding", "gzip")
    assert check(req) == 415
    req = request("INVITE")
    req.body = b"v=0"
    req.headers.add("Content-Type", "application/sdp")
    assert check(req) is None


def test_options_answer() -> None:
    response = options_response(request("OPTIONS"), DEFAULT_POLICY, "t")
    assert response.status_code == 200
    assert response.to.tag == "t"
    assert response.allow == list(DEFAULT_POLICY.allow)
    assert response.supported == list(DEFAULT_POLICY.supported)
    assert response.headers.get("Accept") == "application/sdp"


def test_invite_whose_accept_leaves_out_sdp_gets_406() -> None:
    # RFC 4475 §3.3.15 (sdp01): the 200 must carry SDP, which the Accept rules out
    data = (Path(__file__).resolve().parent.parent / "data/torture/sdp01.sip").read_bytes()
    sdp01 = parse_message(data)
    assert isinstance(sdp01, Request)
    assert check(sdp01) == 406
    for accept, status in [
        ("", 406),  # §20.1: an empty Accept accepts nothing
        ("text/plain, application/sdp;q=0", 406),
        ("application/SDP", None),
        ("text/html, application/*;q=0.5", None),
        ("*/*", None),
    ]:
        req = request("INVITE")
        req.headers.add("Accept", accept)
        assert check(req) == status, accept
    assert check(request("INVITE")) is None  # no Accept: application/sdp is assumed
    options = request("OPTIONS")
    options.headers.add("Accept", "text/plain")
    assert check(options) is None
