"""The Digest server side: challenges, verification and stateless nonces."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sipcore import AuthenticationError, AuthHeader
from sipcore.auth import SUPPORTED_ALGORITHMS, authorization, userhash
from sipcore.digest_server import check_nonce, make_challenge, make_nonce, verify
from tests.sipcore.helpers import H, params


class TestServer:
    @pytest.mark.parametrize(
        ("algorithm", "qop"),
        [
            (algorithm, qop)
            for algorithm in SUPPORTED_ALGORITHMS
            for qop in ("auth", "auth-int", "auth,auth-int", "")
            if qop or not algorithm.endswith("-sess")  # -sess needs a qop (RFC 3261 §22.4)
        ],
    )
    def test_round_trip(self, algorithm: str, qop: str) -> None:
        body = b"v=0\r\n"
        chall = make_challenge("example.com", algorithm=algorithm, qop=qop, opaque="op")
        value = authorization(
            chall,
            method="INVITE",
            uri="sip:bob@example.com",
            username="alice",
            password="pw",
            body=body,
        )
        credentials = AuthHeader.parse(value)
        assert credentials.params.get("algorithm") == algorithm
        assert credentials.params["opaque"] == "op"

        def check(
            realm: str | None = None, username: str | None = None, uri: str | None = None
        ) -> bool:
            return verify(
                credentials,
                method="INVITE",
                password="pw",
                body=body,
                expected_realm=realm,
                username=username,
                uri=uri,
            )

        assert check()
        assert check(realm="example.com", username="alice", uri="sip:bob@example.com")
        assert not check(realm="other.com")
        assert not check(username="bob")
        assert not check(uri="sip:carol@example.com")
        assert not verify(credentials, method="INVITE", password="pW", body=body)
        assert not verify(credentials, method="BYE", password="pw", body=body)
        body_matters = qop == "auth-int"
        assert verify(credentials, method="INVITE", password="pw", body=b"x") is not body_matters

    def test_make_challenge_format(self) -> None:
        assert make_challenge(
            "example.com", nonce="abc", opaque="xyz", stale=True, qop="auth,auth-int"
        ) == (
            'Digest realm="example.com", nonce="abc", algorithm=SHA-256, qop="auth,auth-int", '
            'opaque="xyz", stale=true'
        )
        assert make_challenge("r", algorithm="md5", qop="", nonce="n") == (
            'Digest realm="r", nonce="n", algorithm=MD5'
        )
        assert make_challenge("r", nonce="n", userhash=True).endswith(", userhash=true")
        first, second = make_challenge("r"), make_challenge("r")
        assert params(first)["nonce"] != params(second)["nonce"]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"algorithm": "SHA-1"},
            {"qop": "auth-conf"},
            {"algorithm": "MD5-sess", "qop": ""},
            {"opaque": "a\r\nb"},
        ],
    )
    def test_make_challenge_errors(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(AuthenticationError):
            make_challenge("example.com", **kwargs)

    def test_userhash_round_trip(self) -> None:
        chall = make_challenge("example.com", algorithm="SHA-512-256", userhash=True)
        value = authorization(
            chall, method="REGISTER", uri="sip:example.com", username="alice", password="pw"
        )
        credentials = AuthHeader.parse(value)
        assert credentials.params["username"] == userhash("alice", "example.com", "SHA-512-256")
        assert verify(credentials, method="REGISTER", password="pw", username="alice")
        assert not verify(credentials, method="REGISTER", password="pw", username="bob")
        assert not verify(credentials, method="REGISTER", password="pw")

    def test_qop_hashed_as_sent(self) -> None:
        chall = make_challenge("r", qop="auth-int", nonce="n")
        value = authorization(
            chall, method="MESSAGE", uri="sip:r", username="u", password="p", cnonce="c"
        )
        credentials = AuthHeader.parse(value.replace("qop=auth-int", "qop=AUTH-INT"))
        assert not verify(credentials, method="MESSAGE", password="p")
        ha1 = H("SHA-256", "u:r:p")
        ha2 = H("SHA-256", f"MESSAGE:sip:r:{H('SHA-256', b'')}")
        credentials.params["response"] = H("SHA-256", f"{ha1}:n:00000001:c:AUTH-INT:{ha2}")
        assert verify(credentials, method="MESSAGE", password="p")
        assert not verify(credentials, method="MESSAGE", password="p", body=b"x")

    def test_response_hex_case_is_ignored(self) -> None:
        value = authorization(
            make_challenge("r"), method="REGISTER", uri="sip:r", username="u", password="p"
        )
        credentials = AuthHeader.parse(value)
        credentials.params["response"] = credentials.params["response"].upper()
        assert verify(credentials, method="REGISTER", password="p")

    @pytest.mark.parametrize(
        "text",
        [
            "Basic dXNlcjpwYXNz",
            'Digest realm="r", nonce="n", uri="sip:r", response="00"',  # no username
            'Digest username="u", nonce="n", uri="sip:r", response="00"',  # no realm
            'Digest username="u", realm="r", uri="sip:r", response="00"',  # no nonce
            'Digest username="u", realm="r", nonce="n", response="00"',  # no uri
            'Digest username="u", realm="r", nonce="n", uri="sip:r"',  # no response
            'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00", '
            "algorithm=SHA-1",
            'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00", qop=auth-conf, '
            'cnonce="c", nc=00000001',
            'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00", qop=auth, '
            "nc=00000001",  # no cnonce
            'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00", qop=auth, '
            'cnonce="c", nc=1',  # nc not 8 digits
            'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00", '
            "algorithm=MD5-sess",  # -sess without qop
            'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00", qop=auth, '
            'cnonce="c", nc=0000000g',  # nc not hex
            'Digest username="u", realm="r", nonce="n", uri="sip:r", response="\u00e9"',
        ],
    )
    def test_malformed_credentials_are_false(self, text: str) -> None:
        assert verify(AuthHeader.parse(text), method="REGISTER", password="p") is False

    def test_tampered_credentials(self) -> None:
        value = authorization(
            make_challenge("r", qop="auth"),
            method="REGISTER",
            uri="sip:r",
            username="u",
            password="p",
            cnonce="c",
            nc=1,
        )
        for name, changed in [
            ("nonce", "other"),
            ("cnonce", "d"),
            ("nc", "00000002"),
            ("uri", "sip:x"),
            ("username", "v"),
            ("realm", "s"),
        ]:
            credentials = AuthHeader.parse(value)
            credentials.params[name] = changed
            assert not verify(credentials, method="REGISTER", password="p"), name


class TestNonce:
    SECRET = b"server secret"

    def test_ok(self) -> None:
        nonce = make_nonce(self.SECRET, 1000.0)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", nonce)
        assert check_nonce(self.SECRET, nonce, 1000.0, 30) == "ok"
        assert check_nonce(self.SECRET, nonce, 1030.0, 30) == "ok"
        assert make_nonce(self.SECRET, 1000.0) != nonce

    def test_stale(self) -> None:
        nonce = make_nonce(self.SECRET, 1000.0)
        assert check_nonce(self.SECRET, nonce, 1030.5, 30) == "stale"
        # dated after now: made with another clock, so ask for a fresh one
        assert check_nonce(self.SECRET, nonce, 999.0, 30) == "stale"

    def test_invalid(self) -> None:
        nonce = make_nonce(self.SECRET, 1000.0)
        assert check_nonce(b"other secret", nonce, 1000.0, 30) == "invalid"
        flipped = nonce[:20] + ("A" if nonce[20] != "A" else "B") + nonce[21:]
        assert check_nonce(self.SECRET, flipped, 1000.0, 30) == "invalid"
        for bad in ("", "abc", "A" * 41, nonce[:-1], nonce + "AAAA", "é" * 43, "!" * 43, "A" * 200):
            assert check_nonce(self.SECRET, bad, 1000.0, 30) == "invalid", bad

    def test_in_a_challenge(self) -> None:
        nonce = make_nonce(self.SECRET, 5.0)
        value = authorization(
            make_challenge("r", nonce=nonce),
            method="REGISTER",
            uri="sip:r",
            username="u",
            password="p",
        )
        credentials = AuthHeader.parse(value)
        assert verify(credentials, method="REGISTER", password="p")
        assert check_nonce(self.SECRET, credentials.params["nonce"], 6.0, 30) == "ok"

    def test_negative_now(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            make_nonce(self.SECRET, -1.0)
