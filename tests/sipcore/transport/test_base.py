from __future__ import annotations

import logging
import ssl

import pytest

import sipcore.transport
from sipcore.flow import Flow
from sipcore.transport import Receiver, Transport, client_ssl_context, server_ssl_context
from sipcore.transport.base import (
    RateLimitedLog,
    address,
    deliver,
    next_connection_id,
    normalize_host,
)
from tests.sipcore.transport.helpers import Pki, Recorder


def test_exports() -> None:
    for name in sipcore.transport.__all__:
        assert hasattr(sipcore.transport, name), name
    assert sipcore.transport.__all__ == sorted(
        sipcore.transport.__all__, key=lambda n: (not n.isupper(), n)
    )


def test_transport_is_abstract() -> None:
    with pytest.raises(TypeError):
        Transport()  # type: ignore[abstract]


def test_recorder_is_a_receiver() -> None:
    receiver: Receiver = Recorder()
    receiver.message_received(b"x", Flow("UDP", ("127.0.0.1", 5060)))
    assert isinstance(receiver, Recorder) and receiver.payloads == [b"x"]


def test_client_context_verifies_by_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sipcore.transport"):
        context = client_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert not caplog.records


def test_client_context_adds_cafile(pki: Pki) -> None:
    before = client_ssl_context().cert_store_stats()["x509_ca"]
    after = client_ssl_context(cafile=pki.cafile).cert_store_stats()["x509_ca"]
    assert after == before + 1


def test_client_context_without_verification_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sipcore.transport"):
        context = client_ssl_context(verify=False)
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname
    assert any(
        r.levelno == logging.WARNING and "TLS certificate verification disabled for" in r.message
        for r in caplog.records
    )


def test_server_context(pki: Pki) -> None:
    context = server_ssl_context(pki.certfile, pki.keyfile)
    assert context.verify_mode is ssl.CERT_NONE  # no client certificates requested


def test_helpers() -> None:
    assert address(("::1", 5060, 0, 0)) == ("::1", 5060)
    assert address(None) == ("", 0)
    assert normalize_host("[0:0::1]") == "::1"
    assert normalize_host("Example.COM") == "example.com"
    first, second = next_connection_id(), next_connection_id()
    assert 0 < first < second


def test_deliver_logs_receiver_errors(caplog: pytest.LogCaptureFixture) -> None:
    def broken(flow: Flow) -> None:
        raise RuntimeError("bug")

    flow = Flow("TCP", ("127.0.0.1", 5060), connection=3)
    with caplog.at_level(logging.ERROR, logger="sipcore.transport"):
        error = deliver(broken, flow)
    assert isinstance(error, RuntimeError)
    assert "broken failed on tcp:127.0.0.1:5060#3" in caplog.text
    assert deliver(lambda flow: None, flow) is None


def test_rate_limited_log_once_per_key_and_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), interval=10.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "test.ratelimit")
    results = [log("peer-a", logging.INFO, "refused %s", "a") for _ in range(1000)]
    assert results == [True] + [False] * 999
    assert log("peer-b", logging.INFO, "refused %s", "b")  # another key is logged at once
    now[0] = 9.9
    assert not log("peer-a", logging.INFO, "refused %s", "a")
    now[0] = 10.0
    assert log("peer-a", logging.INFO, "refused %s", "a")
    assert [r.getMessage() for r in caplog.records] == [
        "refused a",
        "refused b",
        "refused a (1000 more like it not logged in the last 10 s)",
    ]


def test_rate_limited_log_forgets_the_oldest_keys() -> None:
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), clock=lambda: 0.0)
    for key in range(RateLimitedLog.MAX_KEYS + 10):
        log(key, logging.DEBUG, "x")
    assert len(log._last) == RateLimitedLog.MAX_KEYS
    assert log(0, logging.DEBUG, "x")  # forgotten, so logged again
