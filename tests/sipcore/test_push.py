"""RFC 8599 push parameters and the proxy's registry of pushed UAs."""

from __future__ import annotations

from sipcore.push import PushNotice, PushParams, PushRegistry
from sipcore.uri import NameAddr


def test_params_to_contact_and_back() -> None:
    params = PushParams(provider="fcm", prid="dev-token-1", param="proj-7")
    assert params.contact_params() == (
        ("pn-provider", "fcm"),
        ("pn-param", "proj-7"),
        ("pn-prid", "dev-token-1"),
    )
    contact = NameAddr.parse(
        "<sip:a@h.invalid;transport=ws>;pn-provider=fcm;pn-param=proj-7;pn-prid=dev-token-1"
    )
    assert PushParams.from_contact(contact) == params
    # §4.1 allows them as URI parameters too
    in_uri = NameAddr.parse("<sip:a@h.invalid;pn-provider=apns;pn-prid=x9>")
    assert PushParams.from_contact(in_uri) == PushParams(provider="apns", prid="x9")
    assert PushParams.from_contact(NameAddr.parse("<sip:a@h;pn-provider=fcm>")) is None
    notice = PushNotice(aor="bob", params=params, call_id="c1", caller="sip:alice@d")
    assert notice.payload() == {
        "aor": "bob",
        "call_id": "c1",
        "caller": "sip:alice@d",
        "pn-provider": "fcm",
        "pn-prid": "dev-token-1",
        "pn-param": "proj-7",
    }


def test_registry_remembers_holds_releases_and_expires() -> None:
    reg = PushRegistry()
    params = PushParams(provider="fcm", prid="p")
    reg.remember("bob", params, 100.0)
    assert reg.lookup("bob", 99.0) == params
    assert reg.lookup("bob", 100.0) is None  # expired with its binding
    assert reg.lookup("bob", 50.0) is None  # and forgotten
    assert reg.get_timer() is None
    reg.hold("bob", "k1", 30.0, "ctx1")
    reg.hold("bob", "k2", 20.0, "ctx2")
    reg.hold("carol", "k3", 25.0, "ctx3")
    assert reg.get_timer() == 20.0 and reg.waiting == 3
    assert reg.drop("k3") == "ctx3" and reg.drop("k3") is None
    assert reg.expired(20.0) == ["ctx2"]
    assert reg.release("bob") == ["ctx1"]
    assert reg.release("bob") == [] and reg.waiting == 0
