"""UA cores over a fake wire (no sockets, a float clock), shared by the UA and transfer tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sipcore.events import Event
from sipcore.flow import Flow
from sipcore.transaction_layer import TransactionLayer
from sipcore.ua import LocalIdentity, UserAgent
from sipcore.uri import SipUri

E = TypeVar("E", bound=Event)


def identity(addr: tuple[str, int], user: str) -> LocalIdentity:
    return LocalIdentity("UDP", addr[0], addr[1], SipUri(addr[0], user=user, port=addr[1]))


def fixed_identity(me: LocalIdentity) -> Callable[[Flow], LocalIdentity]:
    """The same identity on every flow."""
    return lambda _flow: me


class UaWire:
    """One UA core per name at its address; ``run`` moves bytes until nothing moves, ``drop``
    loses the next message of each listed method or status code once."""

    def __init__(
        self, addrs: dict[str, tuple[str, int]], options: dict[str, dict[str, Any]]
    ) -> None:
        self.addrs = addrs
        self.ua: dict[str, UserAgent] = {}
        for name, addr in addrs.items():
            self.ua[name] = UserAgent(
                TransactionLayer(), fixed_identity(identity(addr, name)), **options.get(name, {})
            )
        self.now = 0.0
        self.events: dict[str, list[Event]] = {name: [] for name in addrs}
        self.drop: list[str] = []
        self.log: list[tuple[float, str, bytes]] = []  # (time, sender, data) of all that went out

    def flow(self, me: str, peer: str) -> Flow:
        """``me``'s flow to ``peer``."""
        return Flow("UDP", self.addrs[peer], self.addrs[me])

    def pump(self) -> bool:
        moved = False
        by_addr = {addr: name for name, addr in self.addrs.items()}
        for name, ua in self.ua.items():
            while (event := ua.layer.next_event()) is not None:
                if not ua.handle_event(event, self.now):
                    self.events[name].append(event)
            while (event := ua.next_event()) is not None:
                self.events[name].append(event)
            for data, out in ua.layer.data_to_send():
                moved = True
                self.log.append((self.now, name, data))
                first = data.split(b" ", 2)
                label = first[1].decode() if data.startswith(b"SIP/") else first[0].decode()
                if label in self.drop:
                    self.drop.remove(label)
                    continue
                peer = by_addr[out.remote]
                self.ua[peer].layer.receive(data, self.flow(peer, name), self.now)
        return moved

    def run(self) -> None:
        while self.pump():
            pass

    def advance(self, seconds: float) -> None:
        """Fire every deadline of the UA cores and their layers for ``seconds``."""
        end = self.now + seconds
        while True:
            deadlines = [
                d
                for ua in self.ua.values()
                for d in (ua.layer.get_timer(), ua.get_timer())
                if d is not None and d <= end
            ]
            if not deadlines:
                break
            self.now = min(deadlines)
            for ua in self.ua.values():
                ua.layer.handle_timer(self.now)
                ua.handle_timer(self.now)
            self.run()
        self.now = end

    def of(self, name: str, kind: type[E]) -> list[E]:
        return [e for e in self.events[name] if isinstance(e, kind)]
