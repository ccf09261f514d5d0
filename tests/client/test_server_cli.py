"""``python -m client server``: its accounts and tokens from the command line, and the server
run as a subprocess (ready line, CA file, WSS and UDP, Bearer tokens, SIGTERM, a port in use)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from client.__main__ import main as client_main
from client.config import PhoneConfig
from client.errors import RegistrationFailed
from client.phone import Phone
from client.server_cli import DEFAULT_WSS_PORT, accounts, build_parser, token_validator
from sipcore.events import Event
from sipcore.registration import AuthenticationFailed

from .helpers import LOOPBACK, ROOT


def parse_accounts(*argv: str) -> dict[str, str]:
    parser = build_parser()
    return accounts(parser.parse_args(argv), parser)


def test_accounts_come_from_file_environment_and_options_later_ones_winning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = tmp_path / "users.txt"
    users.write_text("# accounts\nalice:from-file\n\ncarol:carol:with:colons\n")
    monkeypatch.setenv("BOB_PW", "from-env")
    monkeypatch.setenv("ALICE_PW", "alice-env")

    got = parse_accounts(
        "--users-file", str(users), "--user-env", "bob:BOB_PW", "--user-env", "alice:ALICE_PW",
        "--user", "dave:", "--user", "alice:from-option",
    )  # fmt: skip

    assert got == {
        "alice": "from-option",
        "carol": "carol:with:colons",
        "bob": "from-env",
        "dave": "",
    }


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--user", "alice"],
        ["--user", ":pw"],
        ["--user-env", "alice:NO_SUCH_VARIABLE_FOR_THIS_TEST"],
        ["--users-file", "/nonexistent/users.txt"],
        ["--wss", "70000"],
        ["--user", "alice:pw", "--udp", "x"],
    ],
)
def test_bad_command_lines_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        parse_accounts(*argv)
    assert raised.value.code == 2


def test_a_malformed_users_file_line_is_a_usage_error(tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("alice:ok\nbob\n")
    with pytest.raises(SystemExit) as raised:
        parse_accounts("--users-file", str(users))
    assert raised.value.code == 2


def test_tokens_alone_are_enough_and_the_defaults_are_loopback_wss() -> None:
    args = build_parser().parse_args(["--token", "alice:t"])
    assert accounts(args, build_parser()) == {}
    assert (args.host, args.wss, args.ca_file, args.no_invite_auth) == (
        "127.0.0.1",
        DEFAULT_WSS_PORT,
        "ca.pem",
        False,
    )
    assert (args.ws, args.udp, args.tcp) == (None, None, None)


def test_token_validator_tells_good_expired_and_unknown_tokens_apart() -> None:
    validate = token_validator({"alice": {"a1", "a2"}}, {"alice": {"old"}, "bob": {"b-old"}})
    assert validate("alice", "a1") == "ok"
    assert validate("alice", "a2") == "ok"
    assert validate("alice", "old") == "expired"
    assert validate("bob", "b-old") == "expired"
    assert validate("bob", "a1") == "invalid"  # alice's token is not bob's
    assert validate("alice", "b-old") == "invalid"
    assert validate("carol", "a1") == "invalid"


def test_python_m_client_dispatches_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        client_main(["server", "--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m client server")
    assert "--ca-file" in out and "--token" in out


# -- the server as a subprocess ------------------------------------------------------------------
async def start(tmp_path: Path, *argv: str) -> tuple[asyncio.subprocess.Process, str]:
    """The server started with ``argv``; its ready line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client", "server", *argv,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    return proc, line


async def stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 15)


def phone(server: str, name: str, ca: Path, password: str | None = None) -> PhoneConfig:
    return PhoneConfig(
        aor=f"sip:{name}@127.0.0.1",
        server=server,
        password=password,
        ca_file=str(ca),
        media=LOOPBACK,
    )


async def test_server_registers_digest_and_bearer_users_over_wss_and_udp(tmp_path: Path) -> None:
    proc, ready = await start(
        tmp_path,
        "--user", "alice:alice-pw", "--token", "carol:good", "--expired-token", "carol:old",
        "--wss", "0", "--udp", "0", "--ca-file", "certs.pem", "--no-invite-auth",
    )  # fmt: skip
    try:
        match = re.fullmatch(
            r"ready: (wss://127\.0\.0\.1:\d+) (udp:127\.0\.0\.1:\d+) domain=127\.0\.0\.1 "
            r"users=alice ca=certs.pem\n",
            ready,
        )
        assert match, ready
        wss, udp = match.groups()
        ca = tmp_path / "certs.pem"
        assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")

        async with Phone(phone(wss, "alice", ca, "alice-pw")) as alice:
            await alice.register()  # the certificate verifies against the CA file
        async with Phone(phone(udp, "alice", ca, "alice-pw")) as alice:
            await alice.register()
        async with Phone(phone(wss, "alice", ca, "wrong")) as alice:
            with pytest.raises(RegistrationFailed):
                await alice.register()

        async with Phone(phone(wss, "carol", ca), token=lambda: "good") as carol:
            await carol.register()
        for token, kind in (("old", "expired"), ("forged", "invalid")):
            seen: list[Event] = []
            async with Phone(phone(wss, "carol", ca), token=lambda t=token: t) as carol:
                carol.registration.listeners.append(seen.append)
                with pytest.raises(RegistrationFailed):
                    await carol.register()
            assert [e.kind for e in seen if isinstance(e, AuthenticationFailed)] == [kind]
    finally:
        code = await stop(proc)
    assert code == 0


async def test_a_port_in_use_exits_1(tmp_path: Path) -> None:
    first, ready = await start(tmp_path, "--user", "a:b", "--wss", "0")
    try:
        port = re.search(r"wss://127\.0\.0\.1:(\d+)", ready)
        assert port, ready
        second, line = await start(tmp_path, "--user", "a:b", "--wss", port.group(1))
        assert line == ""
        assert await asyncio.wait_for(second.wait(), 15) == 1
        assert second.stderr is not None
        assert (await second.stderr.read()).decode().startswith("error: ")
    finally:
        assert await stop(first) == 0
    assert (tmp_path / "ca.pem").is_file()
