from __future__ import annotations

import pytest

from sipcore import RemoteProtocolError, SipUri, Via, build_response, generate_branch
from sipcore.dialog import (
    Dialog,
    DialogState,
    dialog_id_of_request,
    dialog_id_of_response,
)
from sipcore.message import Request
from sipcore.uri import NameAddr
from tests.sipcore.helpers import request

RR = [
    ("Record-Route", "<sip:p2.example.com;lr>"),
    ("Record-Route", "<sip:p1.example.com;lr>"),
]


def invite_with_contact() -> Request:
    invite = request("INVITE", from_tag="alice-tag")
    invite.headers.add("Contact", "<sip:alice@192.0.2.10:5060>")
    return invite


def via() -> Via:
    return Via("UDP", "192.0.2.10", 5060, {"branch": generate_branch()})


def test_uac_dialog_from_2xx_per_12_1_2() -> None:
    invite = invite_with_contact()
    ok = build_response(
        invite,
        200,
        to_tag="bob-tag",
        headers=[*RR, ("Contact", "<sip:bob@192.0.2.20:5070;transport=tcp>")],
    )
    dialog = Dialog.from_uac(invite, ok)
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.id == dialog_id_of_response(ok)
    assert dialog.id.local_tag == "alice-tag"
    assert dialog.id.remote_tag == "bob-tag"
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.20:5070;transport=tcp"
    assert dialog.remote_seq is None
    bye = dialog.create_request("BYE", via=via())
    assert str(bye.uri) == "sip:bob@192.0.2.20:5070;transport=tcp"
    assert [str(r.uri) for r in bye.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert bye.cseq.number == invite.cseq.number + 1
    assert bye.to.tag == "bob-tag"
    assert bye.from_.tag == "alice-tag"
    ack = dialog.create_ack(invite.cseq.number, via=via())
    assert ack.cseq.number == invite.cseq.number
    assert ack.cseq.method == "ACK"


def test_uas_dialog_per_12_1_1() -> None:
    invite = invite_with_contact()
    for name, value in RR:
        invite.headers.add(name, value)
    ringing = build_response(invite, 180, to_tag="bob-tag")
    dialog = Dialog.from_uas(invite, ringing)
    assert dialog.state is DialogState.EARLY
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert dialog.local_seq is None
    bye = dialog.create_request("BYE", via=via())
    assert bye.to.tag == "alice-tag"  # the remote party is the caller
    assert bye.from_.tag == "bob-tag"
    assert str(bye.uri) == "sip:alice@192.0.2.10:5060"
    in_dialog = request("BYE", to_tag="bob-tag", from_tag="alice-tag", cseq=2)
    assert dialog_id_of_request(in_dialog) == dialog.id


def test_strict_route_becomes_request_uri() -> None:
    invite = invite_with_contact()
    ok = build_response(
        invite,
        200,
        to_tag="t",
        headers=[("Record-Route", "<sip:strict.example.com>"), ("Contact", "<sip:bob@b.com>")],
    )
    dialog = Dialog.from_uac(invite, ok)
    bye = dialog.create_request("BYE", via=via())
    assert str(bye.uri) == "sip:strict.example.com"
    assert [str(r.uri) for r in bye.routes] == ["sip:bob@b.com"]


def test_cseq_order_and_target_refresh() -> None:
    invite = invite_with_contact()
    dialog = Dialog.from_uas(invite, build_response(invite, 200, to_tag="b"))
    reinvite = request("INVITE", to_tag="b", from_tag="alice-tag", cseq=5)
    reinvite.headers.add("Contact", "<sip:alice@198.51.100.1:6000>")
    assert dialog.check_request(reinvite) is None
    assert dialog.remote_target == SipUri("198.51.100.1", user="alice", port=6000)
    old = request("INFO", to_tag="b", from_tag="alice-tag", cseq=4)
    assert dialog.check_request(old) == 500  # §12.2.2: lower CSeq
    ack = request("ACK", to_tag="b", from_tag="alice-tag", cseq=5)
    assert dialog.check_request(ack) is None


def test_early_dialog_confirmed_and_refreshed_by_2xx() -> None:
    invite = invite_with_contact()
    early = build_response(
        invite,
        183,
        to_tag="fork1",
        headers=[("Contact", "<sip:bob@early.example.com>"), ("Record-Route", "<sip:p;lr>")],
    )
    dialog = Dialog.from_uac(invite, early)
    assert dialog.state is DialogState.EARLY
    ok = build_response(
        invite,
        200,
        to_tag="fork1",
        headers=[("Contact", "<sip:bob@final.example.com>"), *RR],
    )
    dialog.confirm(ok)
    assert dialog.state is DialogState.CONFIRMED
    assert str(dialog.remote_target) == "sip:bob@final.example.com"
    assert len(dialog.route_set) == 2


def test_errors() -> None:
    invite = invite_with_contact()
    with pytest.raises(RemoteProtocolError):
        Dialog.from_uac(invite, build_response(invite, 200, to_tag="t"))
    with pytest.raises(RemoteProtocolError):
        Dialog.from_uac(invite, build_response(invite, 180))
    dialog = Dialog.from_uac(
        invite,
        build_response(invite, 200, to_tag="t", headers=[("Contact", "<sip:b@b>")]),
    )
    dialog.terminate()
    with pytest.raises(Exception, match="terminated"):
        dialog.create_request("BYE", via=via())
    assert NameAddr(SipUri("x")).tag is None
