"""The mobile-voice facade against a real Kamailio over WSS. Kamailio has no Bearer
validation, so the context uses ``auth_mode="digest"``: the subscriber token is the digest
password of the subscriber (Kamailio's user table has name+"pw")."""

from __future__ import annotations

from pathlib import Path

from client.states import CallState
from client.voice import VoiceClient, VoiceContext
from tests.client.helpers import LOOPBACK
from tests.client.voice.helpers import Events, wait_for

from .kamailio_peer import Kamailio


async def start(kam: Kamailio, tmp_path: Path, name: str) -> tuple[VoiceClient, Events]:
    assert kam.tls is not None
    context = VoiceContext(
        data_dir=tmp_path / name,
        ca_file=str(kam.tls.ca),
        media=LOOPBACK,
        auth_mode="digest",
        sip_domain=kam.domain,
    )
    client, events = VoiceClient(), Events()
    client.setEventListener(events)
    client.getCallController().setCallListener(events)
    ok = await client.initialize(context, kam.uri("wss"), name, name.title(), "AC", f"{name}pw")
    assert ok, events.seen
    return client, events


async def test_register_dial_and_incoming_through_kamailio(
    kamailio: Kamailio, tmp_path: Path
) -> None:
    alice, a_events = await start(kamailio, tmp_path, "alice")
    bob, b_events = await start(kamailio, tmp_path, "bob")
    try:
        out = await alice.getCallController().dial("bob", "ticket 12")
        (incoming,) = await b_events.wait("onIncomingCall")
        assert incoming.call.core is not None
        assert incoming.call.core.invite.headers.get("X-Dial-Message") == "ticket 12"
        await incoming.answer()
        await a_events.wait("onCallEstablished")
        await b_events.wait("onCallEstablished")
        assert out.getCallDetails().getCallState() is CallState.ESTABLISHED
        await out.hangup()
        await b_events.wait("onCallEnded")
    finally:
        await alice.stop()
        await bob.stop()
    # a wrong token (password) is an authentication failure
    wrong, events = VoiceClient(), Events()
    wrong.setEventListener(events)
    assert kamailio.tls is not None
    context = VoiceContext(
        data_dir=tmp_path / "w",
        ca_file=str(kamailio.tls.ca),
        auth_mode="digest",
        sip_domain=kamailio.domain,
    )
    assert not await wrong.initialize(context, kamailio.uri("wss"), "carol", "C", "AC", "nope")
    assert events.names() == ["onAuthenticationFailure", "onInitializationFailure"]


async def test_digest_password_rotated_on_kamailio_is_refreshed(
    kamailio: Kamailio, tmp_path: Path
) -> None:
    """Kamailio's user table changes at run time (htable): the refresh REGISTER with the old
    password is refused, the provider is asked once and the client registers again."""
    assert kamailio.tls is not None
    kamailio.add_user("dave", "dave-old")
    asked: list[str] = []

    def provider() -> str:
        asked.append("dave-new")
        return "dave-new"

    context = VoiceContext(
        data_dir=tmp_path / "dave",
        ca_file=str(kamailio.tls.ca),
        media=LOOPBACK,
        auth_mode="digest",
        sip_domain=kamailio.domain,
        token_provider=provider,
    )
    client, events = VoiceClient(), Events()
    client.setEventListener(events)
    try:
        assert await client.initialize(context, kamailio.uri("wss"), "dave", "D", "AC", "dave-old")
        assert asked == [] and client.phone is not None
        kamailio.add_user("dave", "dave-new")
        assert client.phone.account.refresh()
        await wait_for(lambda: asked == ["dave-new"])
        await wait_for(lambda: client.phone is not None and client.phone.registered)
        assert "onAuthenticationFailure" not in events.names()
    finally:
        await client.stop()
