"""The .pcapng export read by the real tool: Wireshark's ``tshark`` on sessions with the built-in server.

STARTTLS and implicit TLS, TLS 1.2 and 1.3 (1.2 by an OpenSSL configuration that caps the client, as a
system administrator would), each session run once by ``smtpstep run`` (the blocking transport) and
exported twice: with the session's TLS keys embedded (a Decryption Secrets Block) and without. With
keys, tshark decrypts with no setup: its SMTP fields show EHLO, AUTH, MAIL FROM, RCPT TO, and the
decrypted streams equal the wire log's bytes under TLS, message included. Without keys, tshark sees
SMTP up to STARTTLS and TLS records after, and no form of the password is anywhere in the file. Either
way the TCP stream is clean (tshark's expert info, checksums checked). One session on the asyncio
transport (the app's) is exported the same way.

One tshark run per file (fields, the decrypted stream and the expert info at once): it starts in 0.3-1 s.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smtpstep.app.output.capture import PCAPNG_NO_KEYS, export_pcapng
from smtpstep.app.output.exports import ExportError
from smtpstep.app.output.pcapng import BLOCK_DSB, SECRETS_TLS_KEYLOG, write_pcapng
from smtpstep.app.session.recording import Recording, record_session
from smtpstep.app.session.settings import SessionSettings
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.server import LocalServer
from smtpstep.protocol.transport.wire import Direction, RawEvent, RawKind
from tests.reliability.test_secrets import SECRETS
from tests.support.env import REPO

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (CI installs it)")

CELLS = [("starttls", "1.3"), ("starttls", "1.2"), ("tls", "1.3"), ("tls", "1.2")]

CAP_TLS12 = """openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MaxProtocol = TLSv1.2
"""

FIELDS = ("frame.number", "smtp.req.command", "smtp.req.parameter", "smtp.auth.username", "smtp.auth.password",
          "tls.record.content_type", "tls.record.opaque_type")

BAD_EXPERT = ("previous segment not captured", "retransmission", "out-of-order", "acked unseen", "dup ack",
              "malformed", "bad checksum", "window full", "zero window", "spurious")


class Seen:
    """What one tshark run said about a file."""

    def __init__(self, output: str) -> None:
        self.output = output
        head = output.partition("\n===")[0]
        self.rows = [line.split("|") for line in head.splitlines() if line.count("|") == len(FIELDS) - 1]
        follow = re.search(r"Follow: tls,raw\n.*?\nNode 1: [^\n]*\n((?:\t?[0-9a-f]+\n)*)", output, re.S)
        self.streams: dict[bool, bytes] = {False: b"", True: b""}
        for line in (follow[1].splitlines() if follow else ()):
            if line.strip():
                self.streams[line.startswith("\t")] += bytes.fromhex(line.strip())

    def commands(self) -> list[str]:
        # tshark 4.0's SMTP dissector splits STARTTLS as command "STAR", parameter "TLS".
        return [("STARTTLS" if (c, p) == ("STAR", "TLS") else f"{c} {p}".strip())
                for _, c, p, *_ in self.rows if c]

    def field(self, index: int) -> list[str]:
        return [row[index] for row in self.rows if row[index]]

    def first_tls_frame(self) -> int:
        return min(int(row[0]) for row in self.rows if row[5] or row[6])


def tshark(path: Path) -> Seen:
    done = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", "smtp.decryption:TRUE", "-o", "tcp.check_checksum:TRUE",
         "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=|",
         *(arg for name in FIELDS for arg in ("-e", name)), "-z", "expert", "-z", "follow,tls,raw,0"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return Seen(done.stdout)


def assert_clean_stream(seen: Seen) -> None:
    lowered = seen.output.lower()
    assert not [bad for bad in BAD_EXPERT if bad in lowered], seen.output
    assert "Errors (" not in seen.output and "Warns (" not in seen.output, seen.output


def blocks(path: Path) -> list[tuple[int, bytes]]:
    data, out, pos = path.read_bytes(), [], 0
    while pos < len(data):
        kind, length = int.from_bytes(data[pos:pos + 4], "little"), int.from_bytes(data[pos + 4:pos + 8], "little")
        out.append((kind, data[pos + 8:pos + length - 4]))
        pos += length
    return out


def wire_log(recording: Recording, *, tls: bool) -> dict[str, bytes]:
    """The wire log's bytes per direction (under TLS, or all of them)."""
    return {d: b"".join(c.data for c in recording.chunks if c.direction == d and (c.tls or not tls))
            for d in (Direction.CLIENT, Direction.SERVER)}


def wire_commands(recording: Recording) -> list[str]:
    return [c.data[:-2].decode() for c in recording.chunks
            if c.direction == Direction.CLIENT and c.data.count(b"\r\n") == 1]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "smtpstep.app.cli", "run", *args], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def clean_env(module_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in module_env.items() if k not in ("SSLKEYLOGFILE", "OPENSSL_CONF")}


@pytest.fixture(scope="module")
def sessions(clean_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Each cell's session, run once by `smtpstep run` (secrets shown in its recording, so that the wire log
    can be compared byte for byte), exported with and without keys, and what tshark saw in each."""
    done = {}
    for security, version in CELLS:
        folder = tmp_path_factory.mktemp(f"{security}-{version}")
        keys, recorded = folder / "keys.txt", folder / "session.json"
        env = dict(clean_env)
        if version == "1.2":
            (folder / "openssl.cnf").write_text(CAP_TLS12)
            env["OPENSSL_CONF"] = str(folder / "openssl.cnf")
        if security == "tls":  # the standard variable, as other tools read it, instead of the flag
            env["SSLKEYLOGFILE"] = str(keys)
            printed = run("--security", security, "--transcript", str(recorded), "--show-secrets", env=env)
        else:
            printed = run("--security", security, "--transcript", str(recorded), "--show-secrets",
                          "--tls-keys", str(keys), env=env)
        recording = Recording.load(recorded)
        with_keys, without = folder / "with-keys.pcapng", folder / "ciphertext.pcapng"
        said_with = export_pcapng(recording, with_keys, keylog=keys)
        said_without = export_pcapng(recording, without)
        done[security, version] = {
            "recording": recording, "printed": printed.stdout, "keys": keys, "with": with_keys,
            "without": without, "said_with": said_with, "said_without": said_without,
            "seen_with": tshark(with_keys), "seen_without": tshark(without),
        }
    return done


@pytest.mark.parametrize(("security", "version"), CELLS)
def test_the_session_ran_in_the_tls_version_asked_and_said_that_the_keys_decrypt_it(sessions, security: str,
                                                                                  version: str) -> None:
    cell = sessions[security, version]
    tls = cell["recording"].views[-1].snapshot.tls_history[0]
    assert tls.version == f"TLSv{version}" and tls.verified
    assert f"TLS keys are written to {cell['keys']}" in cell["printed"]
    assert "decrypts this session, AUTH and its password included" in cell["printed"]
    assert os.stat(cell["keys"]).st_mode & 0o077 == 0  # the key log is its owner's alone
    assert os.stat(cell["with"]).st_mode & 0o077 == 0  # and so is a capture that holds the keys
    assert "holds the TLS keys" in cell["said_with"] and PCAPNG_NO_KEYS in cell["said_without"]


@pytest.mark.parametrize(("security", "version"), CELLS)
def test_with_embedded_keys_tshark_shows_every_command_decrypted_as_the_wire_log_has_it(sessions, security: str,
                                                                                        version: str) -> None:
    cell = sessions[security, version]
    recording, seen = cell["recording"], cell["seen_with"]
    kinds = [kind for kind, _ in blocks(cell["with"])]
    assert kinds[:3] == [0x0A0D0D0A, 0x00000001, BLOCK_DSB]
    secrets_type = int.from_bytes(blocks(cell["with"])[2][1][:4], "little")
    assert secrets_type == SECRETS_TLS_KEYLOG

    commands = seen.commands()
    assert commands == wire_commands(recording)
    assert [c.split(" ", 1)[0] for c in commands if c.split(" ", 1)[0] in ("EHLO", "AUTH", "MAIL", "RCPT")] == \
        (["EHLO"] if security == "starttls" else []) + ["EHLO", "AUTH", "MAIL", "RCPT"]
    assert seen.field(3) == [DEMO_USER] and seen.field(4) == [DEMO_PASSWORD]
    # The decrypted streams, byte for byte: every command, reply and the dot-stuffed message.
    under_tls = wire_log(recording, tls=True)
    client_side = seen.streams[True] if seen.streams[True].startswith(b"EHLO") else seen.streams[False]
    server_side = seen.streams[False] if client_side is seen.streams[True] else seen.streams[True]
    assert client_side == under_tls[Direction.CLIENT] and b"\r\n..This line starts with a dot" in client_side
    assert server_side == under_tls[Direction.SERVER]
    assert_clean_stream(seen)


@pytest.mark.parametrize(("security", "version"), CELLS)
def test_without_keys_tshark_sees_smtp_up_to_starttls_and_tls_records_after(sessions, security: str,
                                                                           version: str) -> None:
    cell = sessions[security, version]
    seen = cell["seen_without"]
    assert BLOCK_DSB not in [kind for kind, _ in blocks(cell["without"])]
    smtp_frames = [int(row[0]) for row in seen.rows if row[1]]
    if security == "starttls":
        assert seen.commands() == ["EHLO client.smtpstep.test", "STARTTLS"]
        assert max(smtp_frames) < seen.first_tls_frame()
    else:
        assert seen.commands() == []
    assert "23" in ",".join(seen.field(5) + seen.field(6))  # application-data records
    assert seen.field(3) == [] and seen.field(4) == [] and seen.streams == {False: b"", True: b""}
    assert_clean_stream(seen)


@pytest.mark.parametrize(("security", "version"), CELLS)
def test_an_export_without_keys_holds_no_form_of_the_password(sessions, security: str, version: str) -> None:
    cell = sessions[security, version]
    data = cell["without"].read_bytes()
    # The session did send the password (its recording, saved with --show-secrets, shows it) ...
    assert any(b"AUTH PLAIN AHN0dWRlbnQAY2xhc3Nyb29t" in c.data for c in cell["recording"].chunks)
    # ... and the capture without keys holds none of its forms.
    assert [s for s in SECRETS if s.encode() in data] == []


def test_a_student_reads_the_decrypted_commands_with_tshark_y_smtp(clean_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    capture, keys = tmp_path / "s.pcapng", tmp_path / "keys.txt"
    printed = run("--transcript", str(capture), "--tls-keys", str(keys), env=clean_env)

    assert f"{capture} holds" in printed.stdout and "Wireshark opens it decrypted" in printed.stdout
    shown = subprocess.run([TSHARK, "-r", str(capture), "-Y", "smtp"], capture_output=True, text=True,
                           timeout=120, check=True).stdout
    for words in ("C: EHLO client.smtpstep.test", "C: STARTTLS", "C: AUTH PLAIN", "C: MAIL FROM:<",
                  "C: RCPT TO:<", "C: DATA", "C: QUIT", "S: 235 2.7.0", "S: 221"):
        assert words in shown, shown


def test_a_plaintext_auth_is_masked_byte_for_byte_and_the_stream_stays_clean(tmp_path: Path) -> None:
    token = b"AHN0dWRlbnQAY2xhc3Nyb29t"
    auth = b"AUTH PLAIN " + token + b"\r\n"
    events = [
        RawEvent(RawKind.CONNECT, 0.002, started=0.001, client=("127.0.0.1", 40000), server=("127.0.0.1", 25)),
        RawEvent(RawKind.DATA, 0.003, Direction.SERVER, b"220 mail.smtpstep.test ESMTP\r\n", 1),
        RawEvent(RawKind.DATA, 0.004, Direction.CLIENT, auth, 2, secrets=((11, 11 + len(token)),)),
        RawEvent(RawKind.DATA, 0.005, Direction.SERVER, b"235 2.7.0 Authentication successful\r\n", 2),
        RawEvent(RawKind.DATA, 0.006, Direction.CLIENT, b"QUIT\r\n", 3),
        RawEvent(RawKind.DATA, 0.007, Direction.SERVER, b"221 Bye\r\n", 3),
        RawEvent(RawKind.EOF, 0.008, Direction.SERVER),
        RawEvent(RawKind.CLOSE, 0.009),
    ]
    capture = tmp_path / "plain.pcapng"
    with capture.open("wb") as out:
        write_pcapng(out, events, started=1_800_000_000.0)

    assert [s for s in SECRETS if s.encode() in capture.read_bytes()] == []
    seen = tshark(capture)
    assert seen.commands() == ["AUTH PLAIN " + "*" * len(token), "QUIT"]
    lowered = seen.output.lower()
    assert not [bad for bad in BAD_EXPERT if bad in lowered], seen.output


async def test_the_asyncio_transport_exports_the_same_clean_decryptable_capture(local_server: LocalServer,
                                                                              tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    settings = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user=DEMO_USER,
                               password=DEMO_PASSWORD, tls_keys=str(keys))
    recording = await record_session(settings, local_server)
    capture = tmp_path / "app.pcapng"

    export_pcapng(recording, capture, keylog=keys, show_secrets=True)
    seen = tshark(capture)

    assert seen.commands() == [line for line in wire_commands(recording)]
    assert seen.field(3) == [DEMO_USER] and seen.field(4) == [DEMO_PASSWORD]
    client_side = seen.streams[True] if seen.streams[True].startswith(b"EHLO") else seen.streams[False]
    assert client_side == wire_log(recording, tls=True)[Direction.CLIENT]
    assert_clean_stream(seen)


def test_replay_exports_a_recording_as_pcapng_with_the_keys_asked_for(sessions, clean_env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    cell = sessions["starttls", "1.3"]
    recorded = cell["with"].parent / "session.json"
    out = tmp_path / "replayed.pcapng"
    done = subprocess.run([sys.executable, "-m", "smtpstep.app.cli", "replay", str(recorded), "--transcript", str(out),
                           "--tls-keys", str(cell["keys"])], cwd=REPO, env=clean_env, capture_output=True, text=True,
                          timeout=120, check=False)

    assert done.returncode == 0 and "holds the TLS keys" in done.stdout, done.stdout + done.stderr
    assert out.read_bytes() == cell["with"].read_bytes()  # the same capture as from the session itself


def test_a_recording_without_raw_bytes_is_refused_in_one_sentence(sessions, tmp_path: Path) -> None:
    old = dataclasses.replace(sessions["starttls", "1.3"]["recording"], raw=[])
    with pytest.raises(ExportError, match="holds no raw bytes"):
        export_pcapng(old, tmp_path / "old.pcapng")
