"""kamcmd's output, parsed: the answers of Kamailio's RPC commands over its control socket.

:func:`parse_rpc` turns the text kamcmd prints for a structured answer into a tree of
:class:`RpcNode`; :func:`parse_contact` reads one contact of the location table
(``ul.lookup``, ``ul.dump``) from it. :class:`KamcmdError` is raised when kamcmd fails or
the RPC answers with an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

from .processes import PeerError


class KamcmdError(PeerError):
    """kamcmd failed, or the RPC answered with an error."""


RpcValue: TypeAlias = "str | RpcNode"


@dataclass
class RpcNode:
    """One ``{ ... }`` block of kamcmd output: its ``key: value`` entries, in order."""

    entries: list[tuple[str, RpcValue]] = field(default_factory=list)

    def all(self, key: str) -> list[RpcValue]:
        return [value for k, value in self.entries if k == key]

    def get(self, key: str) -> RpcValue | None:
        values = self.all(key)
        return values[0] if values else None

    def nodes(self, key: str) -> list[RpcNode]:
        return [value for value in self.all(key) if isinstance(value, RpcNode)]

    def text(self, key: str) -> str | None:
        value = self.get(key)
        return value if isinstance(value, str) else None

    def find(self, key: str) -> list[RpcNode]:
        """Every node named ``key`` at any depth, in document order."""
        found: list[RpcNode] = []
        for k, value in self.entries:
            if isinstance(value, RpcNode):
                if k == key:
                    found.append(value)
                found.extend(value.find(key))
        return found


def parse_rpc(text: str) -> RpcNode:
    """Parse the text kamcmd prints for a structured RPC answer.

    Blocks are ``key: {`` ... ``}`` (or a bare ``{``, stored under the key ``""``) and
    leaves are ``key: value``; several top-level answers are gathered under one root.
    """
    root = RpcNode()
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            if len(stack) > 1:
                stack.pop()
            continue
        if line == "{":
            node = RpcNode()
            stack[-1].entries.append(("", node))
            stack.append(node)
            continue
        key, sep, value = line.partition(":")
        if not sep:
            stack[-1].entries.append(("", line))
            continue
        value = value.strip()
        if value == "{":
            node = RpcNode()
            stack[-1].entries.append((key.strip(), node))
            stack.append(node)
        else:
            stack[-1].entries.append((key.strip(), value))
    return root


@dataclass(frozen=True)
class Contact:
    """A contact bound to an AoR in Kamailio's location table."""

    address: str
    expires: int | None
    fields: dict[str, str]

    @property
    def received(self) -> str | None:
        value = self.fields.get("Received")
        return None if value in (None, "[not set]") else value

    @property
    def socket(self) -> str | None:
        return self.fields.get("Socket")

    @property
    def user_agent(self) -> str | None:
        return self.fields.get("User-Agent")


def parse_contact(node: RpcNode) -> Contact:
    """The contact of one ``Contact: { ... }`` block of ``ul.lookup`` or ``ul.dump``."""
    fields = {k: v for k, v in node.entries if isinstance(v, str)}
    expires_text = fields.get("Expires", "")
    expires = int(expires_text) if re.fullmatch(r"-?\d+", expires_text) else None
    return Contact(address=fields.get("Address", ""), expires=expires, fields=fields)
