from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipcore import AuthenticationError, AuthHeader
from sipcore.auth import (
    NC_MAX,
    SUPPORTED_ALGORITHMS,
    DigestChallenge,
    _hash_available,
    answer_challenge,
    authorization,
    digest_algorithm,
    read_challenge,
    select_challenge,
    userhash,
)
from sipcore.digest_server import make_challenge, verify
from tests.sipcore.helpers import H, params

# -- published test vectors --------------------------------------------------------------------

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def rfc7616_challenge(algorithm: str) -> str:
    # RFC 7616 §3.9.1: the 401 carries one such challenge per algorithm
    return (
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )


class TestVectors:
    def test_rfc2617_section_3_5(self) -> None:
        value = authorization(
            RFC2617_CHALLENGE,
            method="GET",
            uri="/dir/index.html",
            username="Mufasa",
            password="Circle Of Life",
            cnonce="0a4f113b",
        )
        assert value == (
            'Digest username="Mufasa", realm="testrealm@host.com", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
            'response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", qop=auth, '
            'nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        )

    @pytest.mark.parametrize(
        ("algorithm", "response"),
        [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ],
    )
    def test_rfc7616_section_3_9_1(self, algorithm: str, response: str) -> None:
        # the password is "Circle of Life" with a lower-case "of" (erratum 4495)
        value = authorization(
            rfc7616_challenge(algorithm),
            method="GET",
            uri="/dir/index.html",
            username="Mufasa",
            password="Circle of Life",
            cnonce=RFC7616_CNONCE,
            nc=1,
        )
        p = params(value)
        assert p["response"] == response
        assert p["username"] == "Mufasa"
        assert p["realm"] == "http-auth@example.org"
        assert p["uri"] == "/dir/index.html"
        assert p["nonce"] == RFC7616_NONCE
        assert p["cnonce"] == RFC7616_CNONCE
        assert p["opaque"] == RFC7616_OPAQUE
        assert f"algorithm={algorithm}, " in value
        assert "qop=auth, nc=00000001" in value
        assert verify(AuthHeader.parse(value), method="GET", password="Circle of Life")

    def test_rfc7616_section_3_9_1_selects_sha256(self) -> None:
        sha256 = AuthHeader.parse(rfc7616_challenge("SHA-256"))
        md5 = AuthHeader.parse(rfc7616_challenge("MD5"))
        assert select_challenge([sha256, md5]) is sha256
        assert select_challenge([md5, sha256]) is sha256

    def test_rfc7616_section_3_9_2_sha512_256_userhash(self) -> None:
        # RFC 7616 §3.9.2. The username hash and response printed in the RFC are wrong: erratum
        # 4897 (https://www.rfc-editor.org/errata/eid4897) shows they do not follow from the
        # example's inputs (they came from an early SHA-512/256 implementation). The right values
        # are computed here independently and must differ from the printed ones.
        printed_userhash = "488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec"
        printed_response = "ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd"
        nonce = "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK"
        cnonce = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"
        opaque = "HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"
        user = "J\u00e4s\u00f8n Doe"  # U+00E4 and U+00F8, as the RFC says
        challenge = (
            'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, '
            f'nonce="{nonce}", opaque="{opaque}", charset=UTF-8, userhash=true'
        )

        def h(s: str) -> str:
            return hashlib.new("sha512_256", s.encode()).hexdigest()

        expected_userhash = h(f"{user}:api@example.org")
        ha1 = h(f"{user}:api@example.org:Secret, or not?")
        expected = h(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{h('GET:/doe.json')}")
        # the values erratum 4897 gives
        assert expected_userhash == (
            "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
        )
        assert expected == "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"

        value = authorization(
            challenge,
            method="GET",
            uri="/doe.json",
            username=user,
            password="Secret, or not?",
            cnonce=cnonce,
        )
        p = params(value)
        assert p["username"] == expected_userhash != printed_userhash
        assert p["response"] == expected != printed_response
        assert p["userhash"] == "true"
        assert "algorithm=SHA-512-256, " in value
        assert userhash(user, "api@example.org", "SHA-512-256") == expected_userhash
        credentials = AuthHeader.parse(value)
        assert verify(credentials, method="GET", password="Secret, or not?", username=user)
        assert not verify(credentials, method="GET", password="Secret, or not?", username="Doe")
        assert not verify(credentials, method="GET", password="Secret, or not?")

    def test_hash_availability_probe(self) -> None:
        assert _hash_available("sha256")
        assert not _hash_available("no-such-hash")

    def test_sha512_256_is_available(self) -> None:
        assert "sha512_256" in hashlib.algorithms_available
        assert SUPPORTED_ALGORITHMS == (
            "MD5",
            "MD5-sess",
            "SHA-256",
            "SHA-256-sess",
            "SHA-512-256",
            "SHA-512-256-sess",
        )


# -- the digest computation ------------------------------------------------------------------


def sip_challenge(algorithm: str | None = "SHA-256", qop: str | None = "auth", **extra: str) -> str:
    parts = ['realm="example.com"', 'nonce="n0nce"']
    if algorithm is not None:
        parts.append(f"algorithm={algorithm}")
    if qop is not None:
        parts.append(f'qop="{qop}"')
    parts += [f"{k}={v}" for k, v in extra.items()]
    return "Digest " + ", ".join(parts)


def digest(
    challenge: str,
    *,
    username: str = "alice",
    password: str = "s3cret",
    body: bytes = b"",
    cnonce: str | None = None,
    nc: int = 1,
) -> str:
    """authorization() for a REGISTER to sip:example.com."""
    return authorization(
        challenge,
        method="REGISTER",
        uri="sip:example.com",
        username=username,
        password=password,
        body=body,
        cnonce=cnonce,
        nc=nc,
    )


class TestDigest:
    @pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess", "SHA-512-256-sess"])
    def test_sess_variants(self, algorithm: str) -> None:
        value = digest(sip_challenge(algorithm), cnonce="c0ffee", nc=3)
        # RFC 7616 §3.4.2: HA1 = H(H(user:realm:pass):nonce:cnonce)
        ha1 = H(algorithm, H(algorithm, "alice:example.com:s3cret") + ":n0nce:c0ffee")
        ha2 = H(algorithm, "REGISTER:sip:example.com")
        expected = H(algorithm, f"{ha1}:n0nce:00000003:c0ffee:auth:{ha2}")
        assert params(value)["response"] == expected
        assert f"algorithm={algorithm}, " in value
        assert "nc=00000003" in value

    @pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512-256"])
    def test_auth_int_hashes_the_body(self, algorithm: str) -> None:
        body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
        value = digest(sip_challenge(algorithm, "auth-int"), body=body, cnonce="c", nc=1)
        ha1 = H(algorithm, "alice:example.com:s3cret")
        ha2 = H(algorithm, f"REGISTER:sip:example.com:{H(algorithm, body)}")
        assert params(value)["response"] == H(algorithm, f"{ha1}:n0nce:00000001:c:auth-int:{ha2}")
        assert "qop=auth-int, " in value
        other = digest(sip_challenge(algorithm, "auth-int"), body=b"x", cnonce="c")
        assert params(other)["response"] != params(value)["response"]

    def test_auth_int_empty_body_is_hash_of_empty_string(self) -> None:
        # RFC 3261 §22.4 item 7: H(entity-body) = MD5("") = d41d8cd98f00b204e9800998ecf8427e
        value = digest(sip_challenge(None, "auth-int"), cnonce="c")
        ha1 = H("MD5", "alice:example.com:s3cret")
        ha2 = H("MD5", "REGISTER:sip:example.com:d41d8cd98f00b204e9800998ecf8427e")
        assert params(value)["response"] == H("MD5", f"{ha1}:n0nce:00000001:c:auth-int:{ha2}")

    @pytest.mark.parametrize(
        ("offered", "used"),
        [
            ("auth,auth-int", "auth"),
            ("auth-int,auth", "auth"),
            ("auth-int", "auth-int"),
            ("AUTH", "auth"),
            ("auth-conf, auth-int", "auth-int"),
        ],
    )
    def test_qop_choice(self, offered: str, used: str) -> None:
        value = digest(sip_challenge("MD5", offered))
        assert f"qop={used}, " in value

    def test_unsupported_qop(self) -> None:
        with pytest.raises(AuthenticationError, match="qop"):
            digest(sip_challenge("MD5", "auth-conf"))

    def test_no_qop_is_rfc2069(self) -> None:
        value = digest(sip_challenge(None, None), cnonce="ignored", nc=5)
        ha1 = H("MD5", "alice:example.com:s3cret")
        ha2 = H("MD5", "REGISTER:sip:example.com")
        assert value == (
            'Digest username="alice", realm="example.com", nonce="n0nce", '
            f'uri="sip:example.com", response="{H("MD5", f"{ha1}:n0nce:{ha2}")}"'
        )
        # an empty qop from a broken server is the same as none
        assert digest(sip_challenge(None, "")) == value

    def test_no_algorithm_means_md5_and_is_not_echoed(self) -> None:
        value = digest(sip_challenge(None), cnonce="c")
        md5 = digest(sip_challenge("MD5"), cnonce="c")
        assert "algorithm" not in value
        assert params(value)["response"] == params(md5)["response"]

    def test_algorithm_is_case_insensitive_and_echoed_verbatim(self) -> None:
        lower = digest(sip_challenge("sha-256"), cnonce="c")
        upper = digest(sip_challenge("SHA-256"), cnonce="c")
        assert params(lower)["response"] == params(upper)["response"]
        assert "algorithm=sha-256, " in lower

    def test_quoting(self) -> None:
        value = digest(sip_challenge(opaque='"op\\\\aque"'), cnonce="c", nc=1)
        names = re.findall(r"(\w+)=", value)
        assert names == [
            "username",
            "realm",
            "nonce",
            "uri",
            "response",
            "algorithm",
            "cnonce",
            "qop",
            "nc",
            "opaque",
        ]
        for name in ("username", "realm", "nonce", "uri", "response", "cnonce", "opaque"):
            assert f'{name}="' in value
        for token in ("algorithm=SHA-256,", "qop=auth,", "nc=00000001,"):
            assert token in value
        assert params(value)["opaque"] == "op\\aque"

    def test_username_with_quotes_round_trips(self) -> None:
        value = digest(sip_challenge(), username='a"b\\c')
        assert params(value)["username"] == 'a"b\\c'
        assert verify(AuthHeader.parse(value), method="REGISTER", password="s3cret")

    @pytest.mark.parametrize(
        ("nc", "text"), [(1, "00000001"), (255, "000000ff"), (2**32 - 1, "ffffffff")]
    )
    def test_nc_is_eight_hex_digits(self, nc: int, text: str) -> None:
        assert f"nc={text}" in digest(sip_challenge(), nc=nc)

    @pytest.mark.parametrize("nc", [0, -1, 2**32])
    def test_nc_out_of_range(self, nc: int) -> None:
        with pytest.raises(AuthenticationError, match="nonce count"):
            digest(sip_challenge(), nc=nc)

    def test_cnonce_generated(self) -> None:
        first = params(digest(sip_challenge()))["cnonce"]
        second = params(digest(sip_challenge()))["cnonce"]
        assert len(first) >= 16
        assert first != second

    def test_opaque_echoed_only_when_sent(self) -> None:
        assert "opaque" not in digest(sip_challenge())
        value = digest(sip_challenge(opaque='""'))
        assert params(value)["opaque"] == ""

    def test_charset_utf8_normalises(self) -> None:
        nfc = "J\u00e4s\u00f8n"
        nfd = unicodedata.normalize("NFD", nfc)
        assert nfd != nfc
        with_charset = sip_challenge(charset="UTF-8")

        def response(challenge: str, username: str) -> str:
            value = authorization(
                challenge, method="GET", uri="/", username=username, password="p", cnonce="c"
            )
            return params(value)["response"]

        assert response(with_charset, nfd) == response(with_charset, nfc)
        assert response(sip_challenge(), nfd) != response(sip_challenge(), nfc)

    @pytest.mark.parametrize(
        "challenge",
        [
            sip_challenge("SHA-1"),
            sip_challenge("SHA-512"),
            'Basic realm="example.com"',
            "Bearer abcdef",
            'Digest realm="example.com"',
            'Digest nonce="n"',
            sip_challenge("MD5-sess", None),
            'Digest realm="unterminated',
            "",
        ],
    )
    def test_unanswerable(self, challenge: str) -> None:
        with pytest.raises(AuthenticationError):
            digest(challenge)

    def test_line_breaks_refused_and_password_not_in_errors(self) -> None:
        with pytest.raises(AuthenticationError) as info:
            digest(sip_challenge(), username="a\r\nX-Evil: 1")
        assert "s3cret" not in str(info.value)
        with pytest.raises(AuthenticationError) as info:
            digest(sip_challenge("SHA-1"), password="SHA-1-pass")
        assert "pass" not in str(info.value)

    @given(
        username=st.text(st.characters(exclude_characters="\r\n\0", exclude_categories=["Cs"])),
        password=st.text(st.characters(exclude_categories=["Cs"])),
        body=st.binary(max_size=64),
        algorithm=st.sampled_from(SUPPORTED_ALGORITHMS),
        qop=st.sampled_from(["auth", "auth-int"]),
    )
    def test_round_trip_property(
        self, username: str, password: str, body: bytes, algorithm: str, qop: str
    ) -> None:
        challenge = make_challenge("example.com", algorithm=algorithm, qop=qop)
        value = authorization(
            challenge,
            method="INVITE",
            uri="sip:b@x",
            username=username,
            password=password,
            body=body,
        )
        credentials = AuthHeader.parse(value)
        assert credentials.params["username"] == username
        assert verify(credentials, method="INVITE", password=password, body=body)
        assert not verify(credentials, method="INVITE", password=password + "x", body=body)


# -- challenge selection ----------------------------------------------------------------------


def challenge(algorithm: str | None, realm: str = "example.com", nonce: str = "n") -> AuthHeader:
    text = f'Digest realm="{realm}", nonce="{nonce}", qop="auth"'
    if algorithm is not None:
        text += f", algorithm={algorithm}"
    return AuthHeader.parse(text)


class TestSelectChallenge:
    def test_strongest_wins(self) -> None:
        md5, sha256, sha512 = challenge("MD5"), challenge("SHA-256"), challenge("SHA-512-256")
        assert select_challenge([md5, sha256, sha512]) is sha512
        assert select_challenge([sha512, md5, sha256]) is sha512
        assert select_challenge([md5, sha256]) is sha256
        assert select_challenge([challenge(None), sha256]) is sha256

    def test_sess_ranks_with_its_base_and_ties_go_first(self) -> None:
        sess, plain = challenge("SHA-256-sess"), challenge("SHA-256")
        assert select_challenge([sess, plain]) is sess
        assert select_challenge([plain, sess]) is plain
        strongest = challenge("SHA-512-256-sess")
        assert select_challenge([challenge("MD5"), strongest]) is strongest
        md5, md5_default = challenge("MD5"), challenge(None)
        assert select_challenge([md5_default, md5]) is md5_default

    def test_unsupported_ignored(self) -> None:
        md5 = challenge("MD5")
        others = [
            challenge("SHA-1"),
            challenge("SHA-512"),
            AuthHeader.parse('Basic realm="example.com"'),
            AuthHeader.parse("Bearer token"),
            AuthHeader.parse('Digest realm="example.com", algorithm=SHA-256'),  # no nonce
            AuthHeader.parse('Digest nonce="n", algorithm=SHA-256'),  # no realm
            AuthHeader.parse('Digest realm="r", nonce="n", qop="auth-conf", algorithm=SHA-256'),
            AuthHeader.parse('Digest realm="r", nonce="n", algorithm=SHA-256-sess'),  # no qop
        ]
        assert select_challenge([*others, md5]) is md5
        assert select_challenge(others) is None
        assert select_challenge([]) is None


# -- the two steps of authorization() ---------------------------------------------------------


class TestReadAndAnswer:
    def test_read_challenge_normalises(self) -> None:
        header = AuthHeader.parse(
            'Digest realm="r", nonce="n", algorithm=sha-256, qop="auth-int, auth", '
            'opaque="o", stale=TRUE, userhash=true, charset=utf-8'
        )
        read = read_challenge(header)
        assert read == DigestChallenge(
            realm="r",
            nonce="n",
            algorithm=digest_algorithm("SHA-256"),
            algorithm_token="sha-256",
            qop="auth",
            opaque="o",
            stale=True,
            userhash=True,
            utf8=True,
        )
        plain = read_challenge(AuthHeader.parse('Digest realm="r", nonce="n"'))
        assert (plain.algorithm.name, plain.algorithm_token, plain.qop) == ("MD5", None, None)
        assert plain.opaque is None
        assert (plain.stale, plain.userhash, plain.utf8) == (False, False, False)

    def test_answer_challenge_is_authorization_without_parsing(self) -> None:
        text = sip_challenge("SHA-512-256-sess", "auth-int", opaque='"x"')
        read = read_challenge(AuthHeader.parse(text))
        kwargs: dict[str, Any] = {
            "method": "INVITE",
            "uri": "sip:b@x",
            "username": "alice",
            "password": "pw",
            "body": b"v=0\r\n",
            "cnonce": "c",
        }
        for nc in (1, 7, NC_MAX):
            assert answer_challenge(read, nc=nc, **kwargs) == authorization(text, nc=nc, **kwargs)
        with pytest.raises(AuthenticationError, match="nonce count"):
            answer_challenge(read, nc=NC_MAX + 1, **kwargs)
