"""``smtpstep run`` as a user runs it: a subprocess, its stdout, stderr, exit code and Maildir.

The built-in server is started by the command itself. Servers that misbehave on purpose are played
by ``ScriptedServer``, a plain socket server in a thread that answers from a script and records
every line the client sent, so a test can check what was (and was not) sent. The runs against
``smtpstep serve`` are in ``test_serve.py``.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.env import REPO

SECRETS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t")
"""The demo password and the base64 forms that carry it (AUTH PLAIN; LOGIN's password line)."""
EXIT_CODES = {"connect": 3, "greeting": 4, "ehlo": 5, "tls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10}


@dataclass
class Run:
    code: int
    out: str
    err: str

    def lines(self, prefix: str) -> list[str]:
        return [line[len(prefix):].strip() for line in self.out.splitlines() if line.startswith(prefix)]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: data and state under ``tmp_path``, no password from the caller."""
    values = {k: v for k, v in os.environ.items() if k != "SMTPSTEP_PASSWORD"}
    values.update(XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"),
                  PYTHONPATH=str(REPO))
    return values


def smtpstep(*args: str, env: dict[str, str], timeout: float = 30) -> Run:
    """``python -m smtpstep.app.cli ARGS`` to the end (killed after ``timeout`` seconds: a hang fails the test)."""
    done = subprocess.run(
        [sys.executable, "-m", "smtpstep.app.cli", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, encoding="utf-8", timeout=timeout,
    )
    run = Run(done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in run.err and "Traceback" not in run.out, run.err
    return run


def maildir_files(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_DATA_HOME"]) / "smtpstep" / "maildir" / "new").iterdir())


# --- The default session ------------------------------------------------------------------------


def test_default_run_delivers_over_starttls_with_auth_and_prints_every_step(env: dict[str, str]) -> None:
    run = smtpstep("run", env=env)

    assert run.code == 0, run.err
    assert run.err == ""
    sent = run.lines("C:")
    assert sent.count("EHLO client.smtpstep.test") == 2
    commands = [line for line in sent if line in ("STARTTLS", "DATA", ".", "QUIT") or line.startswith(
        ("EHLO", "AUTH PLAIN", "MAIL FROM:", "RCPT TO:"))]
    assert commands == ["EHLO client.smtpstep.test", "STARTTLS", "EHLO client.smtpstep.test", "AUTH PLAIN ********",
                        "MAIL FROM:<student@client.smtpstep.test> SIZE=" + commands[4].rsplit("=", 1)[1],
                        "RCPT TO:<teacher@example.test>", "DATA", ".", "QUIT"]
    replies = run.lines("S:")
    assert replies[0].startswith("220 ")
    after_dot = run.out.split("\nC: .\n", 1)[1].splitlines()[0]
    assert after_dot.startswith("S: 250 ")
    assert replies[-1].startswith("221")
    # Dot-stuffing on the wire: the body's line that starts with "." goes out with two.
    assert any(line.startswith("..This line starts with a dot") for line in sent)


def test_default_run_stores_the_message_unstuffed_in_the_users_maildir(env: dict[str, str]) -> None:
    run = smtpstep("run", "--subject", "Stored for the test", env=env)

    assert run.code == 0, run.err
    (stored,) = maildir_files(env)
    content = stored.read_bytes()
    assert b"Subject: Stored for the test\r\n" in content
    assert b"\r\n.This line starts with a dot" in content and b"..This line" not in content
    assert b"Received: from client.smtpstep.test" in content
    assert str(stored) in run.out  # the summary says where it is


def test_tls_facts_and_the_time_of_each_step_are_printed(env: dict[str, str]) -> None:
    run = smtpstep("run", env=env)

    tls = run.lines("  TLS")
    assert "SNI: localhost" in tls
    assert any(line.startswith("TLS established: TLSv1.") for line in tls)
    assert any(line.startswith("certificate 1 of") and "CN=mail.smtpstep.test" in line for line in tls)
    assert any(line.startswith("issuer:") for line in tls)
    assert any(line.startswith("names:") and "localhost" in line for line in tls)
    assert any(line.startswith("valid:") for line in tls)
    assert any(re.fullmatch(r"SHA-256: ([0-9A-F]{2}:){31}[0-9A-F]{2}", line) for line in tls)
    assert any(line.startswith("verification: trusted") for line in tls)
    timings = [line for line in run.lines("  ==") if re.search(r" took \d+(\.\d+)? (ms|s)$", line)]
    assert {t.split(" took")[0] for t in timings} >= {"connect", "greeting", "EHLO", "STARTTLS", "TLS handshake",
                                                      "AUTH", "MAIL", "RCPT", "DATA", "the message", "QUIT"}


def test_the_password_and_its_base64_forms_appear_nowhere(env: dict[str, str], tmp_path: Path) -> None:
    transcript = tmp_path / "session.txt"
    run = smtpstep("run", "--transcript", str(transcript), env=env)

    assert run.code == 0, run.err
    saved = transcript.read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in run.out and secret not in run.err and secret not in saved
    assert "AUTH PLAIN ********" in saved


def test_show_secrets_shows_the_auth_payload(env: dict[str, str]) -> None:
    run = smtpstep("run", "--show-secrets", env=env)

    assert run.code == 0, run.err
    assert "C: AUTH PLAIN AHN0dWRlbnQAY2xhc3Nyb29t" in run.out
    assert base64.b64decode("AHN0dWRlbnQAY2xhc3Nyb29t") == b"\0student\0classroom"


def test_the_transcript_file_holds_exactly_what_was_printed(env: dict[str, str], tmp_path: Path) -> None:
    transcript = tmp_path / "swaks.txt"
    run = smtpstep("run", "--style", "swaks", "--transcript", str(transcript), env=env)

    assert run.code == 0, run.err
    assert transcript.read_text(encoding="utf-8") == run.out


def test_swaks_style_uses_arrows_for_plain_and_tls_and_equals_for_notes(env: dict[str, str]) -> None:
    run = smtpstep("run", "--style", "swaks", env=env)

    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert " -> EHLO client.smtpstep.test" in lines  # before STARTTLS: plain
    assert " -> STARTTLS" in lines
    assert " ~> EHLO client.smtpstep.test" in lines  # after: inside TLS
    assert " ~> QUIT" in lines
    assert any(line.startswith("<-  220 ") for line in lines)
    assert any(line.startswith("<~  250 2.0.0") for line in lines)
    assert any(line.startswith("=== ") for line in lines)
    assert not any(line.startswith(("C:", "S:")) for line in lines)


def test_implicit_tls_sends_no_starttls_and_delivers(env: dict[str, str]) -> None:
    run = smtpstep("run", "--security", "tls", env=env)

    assert run.code == 0, run.err
    sent = run.lines("C:")
    assert "STARTTLS" not in sent
    assert sent.count("EHLO client.smtpstep.test") == 1
    assert "AUTH PLAIN ********" in sent
    assert run.out.index("TLS established") < run.out.index("S: 220 ")  # TLS before the greeting
    assert len(maildir_files(env)) == 1


def test_security_none_sends_neither_starttls_nor_auth(env: dict[str, str]) -> None:
    run = smtpstep("run", "--security", "none", env=env)

    assert run.code == 0, run.err
    sent = run.lines("C:")
    assert "STARTTLS" not in sent
    assert not any(line.startswith("AUTH") for line in sent)
    assert "QUIT" in sent
    assert "  TLS" not in run.out
    assert len(maildir_files(env)) == 1


def test_quit_after_ehlo_exits_0_with_quit_right_after_ehlo(env: dict[str, str]) -> None:
    run = smtpstep("run", "--quit-after", "ehlo", env=env)

    assert run.code == 0, run.err
    assert run.lines("C:") == ["EHLO client.smtpstep.test", "QUIT"]
    assert run.lines("S:")[-1].startswith("221")
    assert not (Path(env["XDG_DATA_HOME"]) / "smtpstep" / "maildir" / "new").exists() or not maildir_files(env)


@pytest.mark.parametrize(("phase", "last_before_quit"), [
    ("connect", None),
    ("tls", "EHLO client.smtpstep.test"),
    ("auth", "AUTH PLAIN ********"),
    ("rcpt", "RCPT TO:<teacher@example.test>"),
])
def test_quit_after_each_phase_sends_quit_after_that_phase(env: dict[str, str], phase: str,
                                                           last_before_quit: str | None) -> None:
    run = smtpstep("run", "--quit-after", phase, env=env)

    assert run.code == 0, run.err
    sent = run.lines("C:")
    assert sent[-1] == "QUIT"
    assert (sent[-2] if len(sent) > 1 else None) == last_before_quit


def test_body_file_and_several_recipients(env: dict[str, str], tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Grüße aus der Klasse.\n.\nA lone dot above.\n", encoding="utf-8")
    run = smtpstep("run", "--body-file", str(body), "--to", "a@example.test", "--to", "b@example.test", env=env)

    assert run.code == 0, run.err
    assert run.lines("C:").count("RCPT TO:<a@example.test>") == 1
    assert "RCPT TO:<b@example.test>" in run.lines("C:")
    assert "C: .." in run.out.splitlines()  # the body's lone dot, stuffed
    assert len(maildir_files(env)) == 1


def test_one_refused_recipient_of_two_exits_with_the_rcpt_code(env: dict[str, str]) -> None:
    run = smtpstep("run", "--to", "teacher@example.test", "nobody@example.test", env=env)

    assert run.code == EXIT_CODES["rcpt"]
    assert "nobody@example.test" in run.err and "1 of 2" in run.err
    assert len(maildir_files(env)) == 1  # it still went to the other one
    assert run.lines("C:")[-1] == "QUIT"


# --- Exit codes and errors ----------------------------------------------------------------------


def test_an_unknown_host_exits_3_in_one_sentence(env: dict[str, str]) -> None:
    run = smtpstep("run", "--server", "no-such-host.invalid:25", "--security", "none", "--timeout", "5", env=env)

    assert run.code == EXIT_CODES["connect"]
    assert run.err.count("\n") == 1 and run.err.startswith("smtpstep: ")
    assert "no-such-host.invalid" in run.err


def test_a_refused_port_exits_3(env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = smtpstep("run", "--server", f"127.0.0.1:{port}", "--timeout", "5", env=env)

    assert run.code == EXIT_CODES["connect"]
    assert "nothing is listening" in run.err and str(port) in run.err
    assert run.err.count("\n") == 1


def test_a_password_flag_does_not_exist_and_the_value_is_not_echoed(env: dict[str, str]) -> None:
    for args in (["--password", "hunter2"], ["--password=hunter2"]):
        run = smtpstep("run", "--server", "127.0.0.1:25", "--user", "bob", *args, env=env)
        assert run.code == 2
        assert "hunter2" not in run.err + run.out
        assert "SMTPSTEP_PASSWORD" in run.err


def test_a_usage_error_exits_2_before_connecting(env: dict[str, str]) -> None:
    run = smtpstep("run", "--to", "not-an-address", env=env)

    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("smtpstep run: ") and "not-an-address" in run.err


def test_a_transcript_with_an_unknown_extension_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    run = smtpstep("run", "--transcript", str(tmp_path / "t.pdf"), env=env)

    assert run.code == 2
    assert ".txt" in run.err and ".md" in run.err
    assert not (tmp_path / "t.pdf").exists()


def test_a_user_without_a_password_or_a_terminal_is_a_usage_error(env: dict[str, str]) -> None:
    run = smtpstep("run", "--server", "127.0.0.1:25", "--user", "bob", env=env)

    assert run.code == 2
    assert "SMTPSTEP_PASSWORD" in run.err
    assert "Password for" not in run.err  # no prompt on a pipe


def test_help_documents_every_exit_code(env: dict[str, str]) -> None:
    run = smtpstep("run", "--help", env=env)

    assert run.code == 0
    for phase, code in EXIT_CODES.items():
        assert re.search(rf"^\s+{code}\s+\S", run.out, re.M), phase
    for code in (0, 1, 2, 130):
        assert re.search(rf"^\s+{code}\s+\S", run.out, re.M), code
    assert "--password" not in run.out
    assert "SMTPSTEP_PASSWORD" in run.out


def test_the_cli_module_imports_no_heavy_dependency() -> None:
    code = ("import sys, smtpstep.app.cli, smtpstep.app.session.settings, smtpstep.app.commands.run, smtpstep.app.commands.serve; "
            "print([m for m in ('textual', 'aiosmtpd', 'trustme', 'cryptography') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- Servers that misbehave on purpose ----------------------------------------------------------


@dataclass
class ScriptedServer:
    """A one-thread SMTP server that answers from ``replies`` and records what the client sent.

    ``replies`` maps a verb (``EHLO``, ``MAIL``, ...; ``.`` is the final dot) to the reply bytes.
    ``greeting`` None means never greet (a stalled server).
    """

    replies: dict[str, str] = field(default_factory=dict)
    greeting: str | None = "220 scripted.test ESMTP"
    received: list[str] = field(default_factory=list)
    port: int = 0

    DEFAULTS = {
        "EHLO": "250-scripted.test\r\n250 SIZE 100000",
        "HELO": "250 scripted.test",
        "MAIL": "250 2.1.0 OK",
        "RCPT": "250 2.1.5 OK",
        "DATA": "354 go ahead",
        ".": "250 2.0.0 queued",
        "QUIT": "221 2.0.0 bye",
        "STARTTLS": "220 go ahead",
    }

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(5)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(10)
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _send(self, conn: socket.socket, text: str) -> None:
        conn.sendall(text.replace("\r\n", "\n").replace("\n", "\r\n").encode() + b"\r\n")

    def _session(self, conn: socket.socket) -> None:
        if self.greeting is None:
            self._stop.wait(10)
            return
        self._send(conn, self.greeting)
        buffer, in_data = b"", False
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            while b"\r\n" in buffer:
                raw, buffer = buffer.split(b"\r\n", 1)
                line = raw.decode("utf-8", "replace")
                if in_data:
                    if line != ".":
                        continue
                    in_data, verb = False, "."
                else:
                    verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
                self.received.append(line if verb != "." else ".")
                reply = self.replies.get(verb, self.DEFAULTS.get(verb, "502 5.5.1 not here"))
                if verb == "STARTTLS" and reply.startswith("220"):
                    self._send(conn, reply)
                    conn.sendall(b"this is not TLS at all\r\n" * 4)  # a broken handshake
                    return
                self._send(conn, reply)
                if verb == "DATA" and reply.startswith("354"):
                    in_data = True
                if verb == "QUIT":
                    return


@pytest.fixture
def scripted() -> Iterator[type[ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(**kwargs: object) -> ScriptedServer:
        server = ScriptedServer(**kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in servers:
        server.close()


def test_starttls_not_offered_sends_nothing_after_ehlo_but_quit(env: dict[str, str], scripted) -> None:  # type: ignore[no-untyped-def]
    server = scripted()
    run = smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--timeout", "5", env=env)

    assert run.code == EXIT_CODES["tls"]
    assert server.received == ["EHLO client.smtpstep.test", "QUIT"]
    assert "STARTTLS" in run.err and run.err.count("\n") == 1


def test_quit_after_ehlo_succeeds_even_where_starttls_is_missing(env: dict[str, str], scripted) -> None:  # type: ignore[no-untyped-def]
    server = scripted()
    run = smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--quit-after", "ehlo", "--timeout", "5", env=env)

    assert run.code == 0, run.err
    assert server.received == ["EHLO client.smtpstep.test", "QUIT"]


def test_a_failed_tls_handshake_sends_nothing_after_starttls(env: dict[str, str], scripted) -> None:  # type: ignore[no-untyped-def]
    server = scripted(replies={"EHLO": "250-scripted.test\r\n250 STARTTLS"})
    run = smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--timeout", "5", env=env)

    assert run.code == EXIT_CODES["tls"]
    assert server.received == ["EHLO client.smtpstep.test", "STARTTLS"]
    assert "verification: FAILED" in run.out or "handshake failed" in run.out


@pytest.mark.parametrize(("script", "phase", "said"), [
    ({"greeting": "554 5.7.1 go away"}, "greeting", "554 5.7.1 go away"),
    ({"replies": {"EHLO": "550 no EHLO for you", "HELO": "550 no"}}, "ehlo", "550 no EHLO for you"),
    ({"replies": {"MAIL": "553 5.1.8 bad sender"}}, "mail", "553 5.1.8 bad sender"),
    ({"replies": {"RCPT": "550 5.1.1 no such user"}}, "rcpt", "550 5.1.1 no such user"),
    ({"replies": {"DATA": "554 5.5.0 no DATA today"}}, "data", "554 5.5.0 no DATA today"),
    ({"replies": {".": "554 5.6.0 message refused"}}, "data", "554 5.6.0 message refused"),
])
def test_each_failing_phase_has_its_exit_code_and_still_sends_quit(env: dict[str, str], scripted, script,  # type: ignore[no-untyped-def]
                                                                   phase: str, said: str) -> None:
    server = scripted(**script)
    run = smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "none", "--timeout", "5", env=env)

    assert run.code == EXIT_CODES[phase], run.err
    assert said in run.err
    assert run.err.count("\n") == 1
    assert server.received[-1] == "QUIT"


def test_a_stalled_server_ends_within_the_timeout(env: dict[str, str], scripted) -> None:  # type: ignore[no-untyped-def]
    server = scripted(greeting=None)  # silent for 10 s: "within 1 s" says the run's own timeout ended the wait
    run = smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "none", "--timeout", "1", env=env)

    assert run.code == EXIT_CODES["greeting"]
    assert "within 1 s" in run.err


def test_ctrl_c_exits_130_quietly(env: dict[str, str], scripted) -> None:  # type: ignore[no-untyped-def]
    import signal

    server = scripted(greeting=None)
    process = subprocess.Popen(
        [sys.executable, "-m", "smtpstep.app.cli", "run", "--server", f"127.0.0.1:{server.port}", "--timeout", "20"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait until it is connected and waiting for the greeting
        if "connect took" in line:
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)

    assert process.returncode == 130
    assert err == ""


# --- The error boundary, in process -----------------------------------------------------------------


def test_an_unexpected_error_is_one_sentence_and_its_details_go_to_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import smtpstep.app.commands.run
    from smtpstep.app.cli import main

    def explode(settings: object) -> int:
        raise RuntimeError("the flux capacitor melted")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(smtpstep.app.commands.run, "run", explode)

    code = main(["run"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "the flux capacitor melted" in err and "Traceback" not in err
    log = tmp_path / "state" / "smtpstep" / "error.log"
    assert str(log) in err
    assert "Traceback" in log.read_text() and "RuntimeError" in log.read_text()


def test_main_returns_codes_instead_of_exiting(capsys: pytest.CaptureFixture[str]) -> None:
    from smtpstep.app.cli import main

    assert main(["run", "--help"]) == 0
    assert main(["run", "--security", "carrier-pigeon"]) == 2
    assert main(["run", "--password", "opensesame"]) == 2
    assert "opensesame" not in capsys.readouterr().err
