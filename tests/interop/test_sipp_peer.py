"""The SIPp scenarios of tests/interop/sipp/, run by the Sipp class of sipp_peer.py against
Kamailio and against each other, and what SippResult reads from their traces."""

from __future__ import annotations

from .helpers import register
from .kamailio_peer import Kamailio, KamailioFactory
from .ports import free_ports
from .sipp_peer import Sipp

# -- SIPp scenarios -----------------------------------------------------------------------


def test_call_through_kamailio(kamailio: Kamailio, sipp: Sipp) -> None:
    """uac_invite_bye.xml -> Kamailio (407, record-route) -> uas_invite_bye.xml."""
    callee_port, caller_port = free_ports(2, "udp")
    assert register(sipp, kamailio, "1002", "1002pw", callee_port).ok
    uas = sipp.start("uas_invite_bye.xml", "-p", callee_port, "-m", 5)
    uac = sipp.run(
        "uac_invite_bye.xml",
        "-s",
        "1002",
        "-au",
        "1003",
        "-ap",
        "1003pw",
        "-m",
        5,
        "-r",
        50,
        "-p",
        caller_port,
        remote=kamailio.hostport("udp"),
        variables={"caller": "1003", "domain": kamailio.domain},
        timeout=20,
    )
    assert uac.ok and uac.successful_calls == 5, uac.describe()
    assert uac.message("407", "recv")[0].count == 5
    callee = uas.wait(timeout=10)
    assert callee.ok and callee.successful_calls == 5, callee.describe()
    trace = callee.files["messages"].read_text()
    assert f"Via: SIP/2.0/UDP 127.0.0.1:{kamailio.sip_port};branch=" in trace  # via the proxy
    assert "\nBYE sip:" in trace


def test_options_through_kamailio_without_invite_auth(
    kamailio_factory: KamailioFactory, sipp: Sipp
) -> None:
    kam = kamailio_factory({"NO_INVITE_AUTH": True})
    callee_port, caller_port = free_ports(2, "udp")
    assert register(sipp, kam, "1004", "1004pw", callee_port).ok
    uas = sipp.start("uas_options.xml", "-p", callee_port, "-m", 1)
    uac = sipp.run(
        "uac_options.xml",
        "-s",
        "1004",
        "-m",
        1,
        "-p",
        caller_port,
        remote=kam.hostport("udp"),
        variables={"caller": "1005", "domain": kam.domain},
        timeout=10,
    )
    assert uac.ok, uac.describe()
    assert uac.message("407", "recv")[0].count == 0
    assert uas.wait(timeout=10).ok


def test_uas_digest_register_checks_the_authorization(sipp: Sipp) -> None:
    """uas_digest_register.xml accepts a right answer to its challenge and refuses a
    wrong one (SIPp's UAC sends uri = the remote address unless -auth_uri is given)."""
    for password, accepted in (("alicepw", True), ("wrong", False)):
        uas_port, uac_port = free_ports(2, "udp")
        uas = sipp.start(
            "uas_digest_register.xml",
            "-p",
            uas_port,
            "-m",
            1,
            variables={"user": "alice", "password": "alicepw", "realm": "interop.test"},
        )
        uac = sipp.run(
            "reg_auth.xml",
            "-m",
            1,
            "-p",
            uac_port,
            "-au",
            "alice",
            "-ap",
            password,
            "-auth_uri",
            "127.0.0.1",
            "-default_behaviors",
            "all,-bye",
            remote=f"127.0.0.1:{uas_port}",
            variables={"user": "alice", "domain": "127.0.0.1", "expires": 120},
            timeout=10,
        )
        registrar = uas.wait(timeout=10)
        trace = registrar.files["messages"].read_text()
        assert 'WWW-Authenticate: Digest realm="interop.test"' in trace
        if accepted:
            assert uac.ok, uac.describe()
            assert registrar.ok, registrar.describe()
            assert f"Contact: <sip:alice@127.0.0.1:{uac_port};transport=UDP>;expires=120" in trace
        else:
            assert uac.failed_calls == 1, uac.describe()
            assert registrar.failed_calls == 1, registrar.describe()
            assert "SIP/2.0 403 Forbidden" in trace


def test_uac_loss_completes_through_retransmissions(sipp: Sipp) -> None:
    uas_port, uac_port = free_ports(2, "udp")
    uas = sipp.start("uas_loss.xml", "-p", uas_port, trace_msg=False)
    uac = sipp.run(
        "uac_loss.xml",
        "-s",
        "bob",
        "-m",
        20,
        "-r",
        40,
        "-lost",
        10,
        "-recv_timeout",
        20000,
        "-p",
        uac_port,
        remote=f"127.0.0.1:{uas_port}",
        trace_msg=False,
        timeout=30,
    )
    uas.stop(grace=0.1)  # its calls linger 10 s in time-wait
    assert uac.ok and uac.successful_calls == 20, uac.describe()
    assert uac.retransmissions > 0
    assert sum(m.lost for m in uac.messages) > 0
