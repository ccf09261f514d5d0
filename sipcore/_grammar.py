"""RFC 3261 §25 ABNF pieces as compiled regular expressions (private)."""

from __future__ import annotations

import re

# §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
TOKEN = rf"[{TOKEN_CHARS}]+"
# word (Call-ID): token chars plus ( ) < > : \ DQUOTE / [ ] ? { }
WORD = rf"[{TOKEN_CHARS}()<>:\\\"/\[\]?{{}}]+"
SWS = r"[ \t]*"  # LWS and SWS once folded lines are unfolded (§7.3.1): spaces and tabs
# (unrolled: an alternation inside a repeat costs Python's re a branch per character)
QUOTED_STRING = r'"[^"\\\r\n]*(?:\\[\x00-\x09\x0b\x0c\x0e-\x7f][^"\\\r\n]*)*"'
ESCAPED = r"%[0-9A-Fa-f]{2}"
UNRESERVED = r"A-Za-z0-9\-_.!~*'()"

IPV6_REFERENCE = r"\[[0-9A-Fa-f:.]+\]"

TOKEN_RE = re.compile(TOKEN)

# paramchar = param-unreserved / unreserved / escaped; param-unreserved = [ ] / : & + $
PARAMCHARS_RE = re.compile(rf"(?:[{UNRESERVED}\[\]/:&+$]|{ESCAPED})+")
# §19.1.1 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# RFC 2396 absoluteURI after the scheme: hier-part / opaque-part (uric characters, no LWS)
URIC_RE = re.compile(rf"(?:[{UNRESERVED};/?:@&=+$,\[\]#]|{ESCAPED})+")

# §7.1 Request-Line and Status-Line (exactly one SP between elements)
REQUEST_LINE_RE = re.compile(rf"({TOKEN}) ([^ \t\r\n]+) ([A-Za-z0-9/.]+)")
STATUS_LINE_RE = re.compile(r"([Ss][Ii][Pp]/[0-9]+\.[0-9]+) ([0-9]{3})(?: ([^\r\n]*))?")
SIP_VERSION = "SIP/2.0"

# generic-param = token [ EQUAL gen-value ], gen-value = token / host / quoted-string
_GEN_VALUE = rf"{TOKEN}|{IPV6_REFERENCE}|{QUOTED_STRING}"
# a via-param value may also be a bare IPv6 address (received, RFC 5118 §4.5)
_VIA_VALUE = rf"{TOKEN}|{IPV6_REFERENCE}|[0-9A-Fa-f:.]+|{QUOTED_STRING}"
# one generic-param or via-param
PARAM_PAIR_RE = re.compile(rf"{SWS};{SWS}({TOKEN})(?:{SWS}={SWS}({_VIA_VALUE}))?")
QUOTED_PAIR_RE = re.compile(r"\\(.)", re.S)

# §20.16 CSeq = 1*DIGIT LWS Method
CSEQ_RE = re.compile(rf"([0-9]+)[ \t]+({TOKEN})")
# §20.8 callid = word [ "@" word ]
CALL_ID_RE = re.compile(rf"{WORD}(?:@{WORD})?")
# §20.15 media-type = m-type SLASH m-subtype *(SEMI m-parameter)
MEDIA_TYPE_RE = re.compile(rf"({TOKEN}){SWS}/{SWS}({TOKEN})")
# RFC 7235 §2.1 token68, and auth-param = token BWS "=" BWS ( token / quoted-string )
TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
AUTH_PARAM_RE = re.compile(rf"{SWS}({TOKEN}){SWS}={SWS}({TOKEN}|{QUOTED_STRING}){SWS}(?:,|$)")

UNFOLD_RE = re.compile(r"\r?\n[ \t]+")

# -- whole-value patterns for the hot path (one C-level match per header value) ----------------
# Character classes admit "%" and escapes are checked separately (``BAD_ESCAPE_RE``) only when a
# "%" is present: alternations inside repeats make Python's re several times slower.
_USER = rf"[{UNRESERVED}&=+$,;?/%]+"
_PASSWORD = rf"[{UNRESERVED}&=+$,%]*"
_PARAMCHARS = rf"[{UNRESERVED}\[\]/:&+$%]+"
_HNAME = rf"[{UNRESERVED}\[\]/?:+$%]+"
_HVALUE = rf"[{UNRESERVED}\[\]/?:+$%]*"
# §25.1 host = hostname / IPv4address / IPv6reference, matched loosely here; uri.check_host
# finishes the hostname labels and ``ipaddress`` validates IPv6 references
_LOOSE_HOST = rf"{IPV6_REFERENCE}|[A-Za-z0-9][A-Za-z0-9.\-]*"
_URI_PARAMS = rf"(?:;{_PARAMCHARS}(?:={_PARAMCHARS})?)*"
_URI_TAIL = (
    rf"({_LOOSE_HOST})(?::([0-9]+))?({_URI_PARAMS})"
    rf"(?:\?({_HNAME}={_HVALUE}(?:&{_HNAME}={_HVALUE})*))?"
)
URI_PARAMS_RE = re.compile(_URI_PARAMS)
# fast-path subsets: parameters without spaces, quotes or escapes
FAST_PARAMS_RE = re.compile(rf"(?:;{TOKEN}(?:=(?:{TOKEN}|{QUOTED_STRING}))?)*")
FAST_URI_PARAMS_RE = re.compile(r"(?:;[A-Za-z0-9\-.!*_+'~]+(?:=[A-Za-z0-9\-.!*_+'~]+)?)*")
BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# §19.1.1 SIP-URI / SIPS-URI, with and without userinfo (chosen by the presence of "@")
SIP_URI_USER_RE = re.compile(rf"([Ss][Ii][Pp][Ss]?):({_USER})(?::({_PASSWORD}))?@{_URI_TAIL}")
SIP_URI_NOUSER_RE = re.compile(rf"([Ss][Ii][Pp][Ss]?):{_URI_TAIL}")
# header parameters: *( SEMI generic-param ), validated in one match, then split
_GENERIC_PARAMS = rf"(?:{SWS};{SWS}{TOKEN}(?:{SWS}={SWS}(?:{_GEN_VALUE}))?)*"
GENERIC_PARAMS_RE = re.compile(rf"{_GENERIC_PARAMS}{SWS}")
_DISPLAY = rf"[ \t]*(?:({QUOTED_STRING})[ \t]*|({TOKEN}(?:[ \t]+{TOKEN})*)[ \t]*)?"
# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT, then the header parameters: the common
# case of a SIP URI is one match; any other URI goes through NAME_ADDR_RE and parse_uri
NAME_ADDR_SIP_RE = re.compile(
    rf"{_DISPLAY}<([Ss][Ii][Pp][Ss]?):(?:({_USER})(?::({_PASSWORD}))?@)?{_URI_TAIL}>"
    rf"({_GENERIC_PARAMS}){SWS}"
)
NAME_ADDR_RE = re.compile(rf"{_DISPLAY}<([^<>\s]+)>({_GENERIC_PARAMS}){SWS}")
# §20.42 via-parm = sent-protocol LWS sent-by *( SEMI via-params ); SLASH and COLON allow SWS;
# received may hold a bare IPv6 address (RFC 5118 §4.5)
_VIA_PARAMS = rf"(?:{SWS};{SWS}{TOKEN}(?:{SWS}={SWS}(?:{_VIA_VALUE}))?)*"
VIA_RE = re.compile(
    rf"{SWS}({TOKEN}){SWS}/{SWS}({TOKEN}){SWS}/{SWS}({TOKEN})[ \t]+"
    rf"({_LOOSE_HOST})(?:{SWS}:{SWS}([0-9]+))?({_VIA_PARAMS}){SWS}"
)
