"""Every fault a server or the network can cause, met by ``smtpstep run`` as a user runs it: a subprocess against a server
that misbehaves on purpose.

For each: a non-zero exit code (the failing phase's, from ``smtpstep run --help``), exactly one plain
sentence on stderr, no traceback anywhere, and an end: a run that hangs is killed and fails the test
(``tests/support/cli.py``); no assertion reads the clock. Where the server stalls, the sentence says
the run gave up on its own ``--timeout`` ("within 1 s"), since the server never speaks again. The
server that drips every byte, and the one that injects plaintext after STARTTLS, are correct or
survivable: there the exit code is 0.

Servers: ``HostileServer`` (``tests/support/hostile_server.py``) for the protocol faults, the built-in
``LocalServer`` with a bad certificate addressed as a stranger (``--server``, ``--ca``) for TLS.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.cli import assert_one_plain_sentence, smtpstep
from tests.support.hostile_server import HUGE_LINE_BYTES, HostileServer

TIMEOUT = 2
"""``--timeout`` for every run: seconds for the connect and for each step."""
STALL_TIMEOUT = 1
"""``--timeout`` for the servers that stall: the run must end on it, and say so."""

EXIT = {"connect": 3, "greeting": 4, "ehlo": 5, "tls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10}
"""The contract of ``smtpstep run --help``."""


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ca_file(server: HostileServer, tmp_path: Path) -> Path:
    path = tmp_path / "hostile-ca.pem"
    path.write_bytes(server.ca_pem)
    return path


HOSTILE = [
    # script, --security, failing phase, words the sentence must hold
    ("close-on-accept", "none", "greeting", "closed the connection"),
    ("garbage-greeting", "none", "greeting", "not an SMTP reply"),
    ("554-greeting", "none", "greeting", "refused service"),
    ("silent-after-greeting", "none", "ehlo", f"within {STALL_TIMEOUT} s"),
    ("huge-line", "none", "greeting", "longer than 4096 octets"),
    ("disconnect-mid-multiline", "none", "ehlo", "closed the connection"),
    ("mixed-codes", "none", "ehlo", "mixed codes 250 and 251"),
    ("starttls-then-plaintext", "starttls", "tls", "did not answer with TLS"),
    ("no-starttls", "starttls", "tls", "did not offer it"),
    ("421-at-rcpt", "none", "rcpt", "closing the connection"),
    ("close-during-data", "none", "data", "connection"),
    ("silent-after-starttls", "starttls", "ehlo", f"within {STALL_TIMEOUT} s"),
    ("endless-drip", "none", "ehlo", "no complete reply"),
]


@pytest.mark.parametrize(("script", "security", "phase", "words"), [pytest.param(*c, id=c[0]) for c in HOSTILE])
async def test_a_hostile_server_ends_run_with_the_phase_code_and_one_sentence(
    script: str, security: str, phase: str, words: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    body = tmp_path / "big.txt"
    body.write_text(("x" * 900 + "\n") * 3000, encoding="utf-8")  # 2.7 MB: still being written at the hang-up
    timeout = STALL_TIMEOUT if script in ("silent-after-greeting", "silent-after-starttls", "endless-drip") else TIMEOUT
    async with HostileServer(script) as server:
        args = ["run", "--server", f"127.0.0.1:{server.port}", "--security", security, "--timeout", str(timeout),
                "--ca", str(ca_file(server, tmp_path))]
        if script == "close-during-data":
            args += ["--body-file", str(body)]
        run = await smtpstep(*args, env=cli_env)

    assert run.code == EXIT[phase], (run.code, run.err)
    sentence = assert_one_plain_sentence(run.err)
    assert words in sentence
    assert server.messages == []  # nothing was ever accepted
    assert "Traceback" not in run.out


async def test_the_huge_line_is_not_read_to_its_end(cli_env: dict[str, str], tmp_path: Path) -> None:
    async with HostileServer("huge-line") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "none",
                             "--timeout", str(TIMEOUT), env=cli_env)

    assert run.code == EXIT["greeting"]
    # smtpstep hung up after the limit: the server never managed to send all its megabytes.
    assert server.huge_line_sent < HUGE_LINE_BYTES
    assert len(run.out) < 256 * 1024  # the transcript shows what was read, not 8 MB


async def test_stripped_starttls_sends_nothing_but_quit(cli_env: dict[str, str]) -> None:
    async with HostileServer("no-starttls") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--timeout", str(TIMEOUT), env=cli_env)

    assert run.code == EXIT["tls"]
    assert server.commands == [b"EHLO client.smtpstep.test\r\n", b"QUIT\r\n"]


async def test_a_421_at_rcpt_sends_no_data_and_no_quit(cli_env: dict[str, str]) -> None:
    async with HostileServer("421-at-rcpt") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "none",
                             "--timeout", str(TIMEOUT), env=cli_env)

    assert run.code == EXIT["rcpt"]
    assert server.commands[-1].startswith(b"RCPT TO:")  # RFC 5321 §3.8: the server closes; nothing follows


@pytest.mark.parametrize("certificate", ["untrusted", "wrong-host", "expired"])
async def test_a_bad_certificate_ends_run_in_the_tls_phase(
    certificate: str, local_server_factory, cli_env: dict[str, str]  # type: ignore[no-untyped-def]
) -> None:
    # The built-in server addressed as a stranger: --server and --ca, no demo shortcuts.
    server = await local_server_factory(certificate=certificate)
    run = await smtpstep("run", "--server", f"127.0.0.1:{server.port_for('starttls')}", "--ca", str(server.ca_path),
                         "--timeout", str(TIMEOUT), env=cli_env)

    assert run.code == EXIT["tls"], run.err
    sentence = assert_one_plain_sentence(run.err)
    assert "certificate was not accepted" in sentence
    assert {"untrusted": "issuer", "wrong-host": "127.0.0.1", "expired": "expired"}[certificate] in sentence
    assert "verification: FAILED" in run.out
    assert not any(line.startswith(("AUTH", "MAIL")) for line in run.sent())  # nothing after the handshake
    assert server.received == []


async def test_a_refused_connection_exits_3(cli_env: dict[str, str]) -> None:
    port = closed_port()
    run = await smtpstep("run", "--server", f"127.0.0.1:{port}", "--timeout", str(TIMEOUT), env=cli_env)

    assert run.code == EXIT["connect"]
    assert "nothing is listening" in assert_one_plain_sentence(run.err)


async def test_an_unresolvable_host_exits_3(cli_env: dict[str, str]) -> None:
    # RFC 2606 §2: .invalid never resolves.
    run = await smtpstep("run", "--server", "no-such-host.invalid", "--timeout", str(TIMEOUT), env=cli_env)

    assert run.code == EXIT["connect"]
    sentence = assert_one_plain_sentence(run.err)
    assert "no-such-host.invalid" in sentence and "could not be resolved" in sentence


# --- Odd but correct: these must succeed --------------------------------------------------------------


async def test_a_server_dripping_every_byte_still_delivers_over_starttls(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    async with HostileServer("drip") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--ca", str(ca_file(server, tmp_path)),
                             "--timeout", "5", env=cli_env)

    assert run.code == 0, run.err
    assert run.err == ""
    assert len(server.messages) == 1 and b"Subject: Hello from smtpstep" in server.messages[0]
    assert server.sni == [None]  # an IP address is checked against the certificate, but sent as no SNI


async def test_plaintext_injected_after_starttls_is_thrown_away_and_the_session_goes_on(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    async with HostileServer("injection-after-starttls") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--ca", str(ca_file(server, tmp_path)),
                             "--timeout", "5", env=cli_env)

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    # The transcript shows the injected bytes as they came, then says they were never parsed.
    injected = lines.index("S: 250 injected")
    assert "thrown away unread" in lines[injected + 1]
    after_tls = lines[lines.index("C: EHLO client.smtpstep.test", injected) + 1]
    assert after_tls.startswith("S: 250-hostile.test")  # the real reply, under TLS, answered EHLO
    assert len(server.messages) == 1
