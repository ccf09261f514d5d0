"""A recording Receiver, SIP message bytes and a test PKI for the transport tests."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sipcore.flow import Flow

WAIT = 2.0  # seconds before a wait for an expected event fails the test


def options(n: int = 1, body: bytes = b"", transport: str = "TCP") -> bytes:
    """An OPTIONS request with Content-Length, as any transport carries it."""
    head = (
        f"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1;branch=z9hG4bK-{n}\r\n"
        f"Max-Forwards: 70\r\n"
        f"From: <sip:alice@example.com>;tag=a{n}\r\n"
        f"To: <sip:bob@example.com>\r\n"
        f"Call-ID: {n}@test\r\n"
        f"CSeq: {n} OPTIONS\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Recorder:
    """Receiver that records every call and lets a test wait for a condition."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, Flow]] = []
        self.keepalives: list[Flow] = []
        self.opened: list[Flow] = []
        self.closed: list[tuple[Flow, BaseException | None]] = []
        self._changed = asyncio.Event()

    def message_received(self, data: bytes, flow: Flow) -> None:
        self.messages.append((data, flow))
        self._changed.set()

    def keepalive_received(self, flow: Flow) -> None:
        self.keepalives.append(flow)
        self._changed.set()

    def flow_opened(self, flow: Flow) -> None:
        self.opened.append(flow)
        self._changed.set()

    def flow_closed(self, flow: Flow, error: BaseException | None) -> None:
        self.closed.append((flow, error))
        self._changed.set()

    @property
    def payloads(self) -> list[bytes]:
        return [data for data, _ in self.messages]

    async def until(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def other_tasks() -> set[asyncio.Task[object]]:
    """Tasks of the running loop besides the current one."""
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


@dataclass(frozen=True)
class Pki:
    cafile: str
    certfile: str
    keyfile: str


def make_pki(directory: Path) -> Pki:
    """A CA and a server certificate for 127.0.0.1 and localhost, valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sipcore test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(
        cafile=str(directory / "ca.pem"),
        certfile=str(directory / "server.pem"),
        keyfile=str(directory / "server.key"),
    )
    Path(pki.cafile).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    Path(pki.certfile).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(pki.keyfile).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki
