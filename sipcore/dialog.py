"""Dialogs (RFC 3261 §12): identity, sequence numbers, route set and remote target.

A dialog is created by a UAC from a 1xx (early) or 2xx (confirmed) response with a To tag
(§12.1.2), or by a UAS from the request it answers (§12.1.1). It builds the requests sent within
it (§12.2.1.1: Request-URI and Route from the route set and remote target, loose and strict
routing) and checks the ones received (§12.2.2: CSeq order, target refresh).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import LocalProtocolError, RemoteProtocolError
from .headers import Via
from .message import Request, Response, build_request
from .uri import NameAddr, SipUri, Uri

# §12.2: requests whose Contact refreshes the remote target (RFC 3311 adds UPDATE)
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"

    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class DialogId:
    """§12: Call-ID, local tag and remote tag."""

    call_id: str
    local_tag: str
    remote_tag: str


class Dialog:
    """The state of one dialog, from our side."""

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_uri: NameAddr,
        remote_uri: NameAddr,
        remote_target: Uri,
        route_set: list[NameAddr],
        local_seq: int | None,
        remote_seq: int | None,
        secure: bool,
        state: DialogState,
    ) -> None:
        self.id = DialogId(call_id, local_tag, remote_tag)
        self.local_uri = local_uri
        self.remote_uri = remote_uri
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        self.state = state

    def __repr__(self) -> str:
        return f"<Dialog {self.id.call_id} {self.state.value}>"

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """§12.1.2: from our request and a 101-299 response carrying a To tag."""
        remote_tag = response.to.tag
        if remote_tag is None or not 101 <= response.status_code < 300:
            raise RemoteProtocolError("a dialog needs a 101-299 response with a To tag")
        contacts = response.contacts
        if not contacts and response.status_code >= 200:
            raise RemoteProtocolError("a 2xx creating a dialog must carry a Contact (§12.1.1)")
        local_tag = request.from_.tag
        if local_tag is None:
            raise LocalProtocolError("our request has no From tag")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_uri=request.from_,
            remote_uri=response.to,
            # the route set is the Record-Route of the response, in reverse order
            route_set=list(reversed(response.record_routes)),
            remote_target=contacts[0].uri if contacts else request.uri,
            local_seq=request.cseq.number,
            remote_seq=None,  # §12.1.2: empty
            secure=_secure(request),
            state=DialogState.CONFIRMED if response.status_code >= 200 else DialogState.EARLY,
        )

    @classmethod
    def from_uas(cls, request: Request, response: Response) -> Dialog:
        """§12.1.1: from the request and the 101-299 response we send (with our To tag)."""
        local_tag = response.to.tag
        if local_tag is None:
            raise LocalProtocolError("the response creating a dialog needs a To tag")
        contacts = request.contacts
        if not contacts:
            raise RemoteProtocolError("a request creating a dialog must carry a Contact")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag or "",  # RFC 2543 peers may omit the From tag
            local_uri=response.to,
            remote_uri=request.from_,
            route_set=list(request.record_routes),  # in order
            remote_target=contacts[0].uri,
            local_seq=None,  # §12.1.1: empty
            remote_seq=request.cseq.number,
            secure=_secure(request),
            state=DialogState.CONFIRMED if response.status_code >= 200 else DialogState.EARLY,
        )

    # -- in-dialog requests we send (§12.2.1) ---------------------------------------------------
    def next_seq(self) -> int:
        """§12.2.1.1: one more than the last local CSeq (a random start when still empty)."""
        self.local_seq = (self.local_seq or 0) + 1
        return self.local_seq

    def create_request(
        self,
        method: str,
        *,
        via: Via,
        contact: NameAddr | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        cseq: int | None = None,
    ) -> Request:
        """A request within the dialog: To/From with tags, Call-ID, the next CSeq (or ``cseq``,
        e.g. the INVITE's number for an ACK or CANCEL) and the §12.2.1.1 Request-URI/Route."""
        if self.state is DialogState.TERMINATED and method != "ACK":
            raise LocalProtocolError("the dialog is terminated")
        if cseq is None:
            cseq = self.next_seq()
        target, routes = self.target_and_routes()
        return build_request(
            method,
            target,
            from_addr=self.local_uri,
            to_addr=self.remote_uri,
            call_id=self.id.call_id,
            cseq=cseq,
            via=via,
            contact=contact,
            routes=routes,
            headers=headers or [],
            body=body,
            content_type=content_type,
        )

    def create_ack(self, invite_cseq: int, *, via: Via) -> Request:
        """§13.2.2.4: the ACK for a 2xx, with the INVITE's CSeq number; owed for every 2xx,
        also one retransmitted after our BYE ended the dialog."""
        return self.create_request("ACK", via=via, cseq=invite_cseq)

    def target_and_routes(self) -> tuple[Uri, list[NameAddr]]:
        """§12.2.1.1: loose routing keeps the remote target as Request-URI; a strict first
        route becomes the Request-URI and the remote target goes last in the Route set."""
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0].uri
        if isinstance(first, SipUri) and first.lr:
            return self.remote_target, list(self.route_set)
        # strict routing: the first route (stripped of parameters not allowed) is the target
        target = first
        if isinstance(first, SipUri):
            target = first.replace(params={}, headers={})
        return target, [*self.route_set[1:], NameAddr(self.remote_target)]

    # -- in-dialog requests and responses we receive -----------------------------------------
    def check_request(self, request: Request) -> int | None:
        """§12.2.2: the status to reject an in-dialog request with (500 for an out-of-order
        CSeq), or None; a target refresh request updates the remote target."""
        number = request.cseq.number
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and number <= self.remote_seq:
                return 500
            self.remote_seq = number
        if request.method in TARGET_REFRESH and request.contacts:
            self.remote_target = request.contacts[0].uri
        return None

    def receive_response(self, request: Request, response: Response) -> None:
        """A response to a request we sent in this dialog: 2xx to a target refresh updates
        the remote target (§12.2.1.2); a 2xx to the dialog's INVITE confirms it."""
        if 200 <= response.status_code < 300:
            if request.method in TARGET_REFRESH and response.contacts:
                self.remote_target = response.contacts[0].uri
            if request.method == "INVITE" and self.state is DialogState.EARLY:
                self.state = DialogState.CONFIRMED
                # §12.1.2: the route set is recomputed from the 2xx (Record-Route may differ)
                if response.record_routes or self.route_set:
                    self.route_set = list(reversed(response.record_routes))

    def confirm(self, response: Response) -> None:
        """An early dialog became confirmed by the 2xx that shares its tags."""
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
            if response.contacts:
                self.remote_target = response.contacts[0].uri
            self.route_set = list(reversed(response.record_routes))

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED


def dialog_id_of_request(request: Request) -> DialogId:
    """The dialog ID a received request belongs to: ours is the To tag (§12.2.2)."""
    return DialogId(request.call_id, request.to.tag or "", request.from_.tag or "")


def dialog_id_of_response(response: Response) -> DialogId:
    """The dialog ID a response to our request belongs to (§12.1.2)."""
    return DialogId(response.call_id, response.from_.tag or "", response.to.tag or "")


def _secure(request: Request) -> bool:
    """§12.1.1: secure when the request came over TLS with a SIPS Request-URI."""
    uri = request.uri
    return isinstance(uri, SipUri) and uri.secure and request.top_via.transport in ("TLS", "WSS")
