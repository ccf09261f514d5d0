"""parse_rpc: the text kamcmd prints, as a tree."""

from __future__ import annotations

from .kamcmd import parse_rpc


def test_parse_rpc_nested_blocks() -> None:
    node = parse_rpc(
        "{\n\tAoR: alice\n\tContacts: {\n\t\tContact: {\n\t\t\tAddress: sip:a@h:1\n"
        "\t\t\tExpires: 60\n\t\t}\n\t\tContact: {\n\t\t\tAddress: sip:a@h:2\n\t\t}\n\t}\n}"
    )
    contacts = node.find("Contact")
    assert [c.text("Address") for c in contacts] == ["sip:a@h:1", "sip:a@h:2"]
    assert node.nodes("")[0].text("AoR") == "alice"
