"""HTTPS POST with the standard library, verified against a test CA."""

from __future__ import annotations

import ssl
import urllib.error
from pathlib import Path

import pytest

from client.voice import https
from sipcore.transport.pki import make_cert
from tests.client.voice.helpers import HttpsSink


async def test_post_verifies_and_reports_status(tmp_path: Path) -> None:
    certs = make_cert(tmp_path)
    sink = HttpsSink(certs.cert, certs.key)
    try:
        url = sink.url("/x")
        assert await https.post(url, b"hi", {"X-A": "1"}, ca_file=str(certs.ca)) == 200
        assert sink.posted[0].body == b"hi" and sink.posted[0].headers["X-A"] == "1"
        with pytest.raises(urllib.error.URLError) as untrusted:
            await https.post(url, b"no", {}, ca_file=None)
        assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
        assert await https.post(url, b"ok", {}, ca_file=None, verify=False) == 200
        sink.status = 404
        with pytest.raises(urllib.error.HTTPError):
            await https.post(url, b"", {}, ca_file=str(certs.ca))
        with pytest.raises(ValueError):
            await https.post("http://127.0.0.1:1/", b"", {}, ca_file=None)
    finally:
        sink.close()
