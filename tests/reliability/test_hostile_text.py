"""Text from outside never reaches a terminal, a transcript or a log raw: the hostile corpus, command by command.

The corpus: ``HOSTILE_TEXT`` (OSC 52 to the clipboard, OSC 0 to the title, CSI 2J, CSI ?1049h, BEL,
NUL, U+202E, Rich markup, a C1 CSI, DEL) in a scripted server's greeting, EHLO reply (with a line far
over 512 octets), every refusal and every other reply (``tests/support/hostile_server.py``); in a
certificate's CN, O and names; in every text field of a lesson file and of a recording. Each command
runs as a user runs it, a subprocess, and what it wrote (stdout, stderr, every transcript format, the
log files) must hold none of the raw characters, and must show the escaped form where it shows the text.
A ``.json`` recording keeps the text exact (JSON escapes it). The terminal app's screen is in
``tests/app/test_hostile_screen.py``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from tests.support.cli import assert_one_plain_sentence, smtpstep
from tests.support.hostile_files import (
    EVIL,
    hostile_lesson_text,
    toml_string,
    write_hostile_lesson,
    write_hostile_recording,
)
from tests.support.hostile_server import (
    ESCAPED_OSC52,
    HOSTILE_TEXT,
    OSC0,
    OSC52,
    REFUSING_PHASES,
    HostileServer,
    assert_no_raw_controls,
)

EXIT = {"connect": 3, "greeting": 4, "ehlo": 5, "tls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10}
"""The contract of ``smtpstep run --help``."""

PHASE_EXIT = {"greeting": 4, "ehlo": 5, "starttls": 6, "auth": 7, "mail": 8, "rcpt": 9, "data": 10, "message": 10}
"""The exit code of a session refused at each phase of ``hostile-text-refuses-PHASE``."""

FORMATS = (".txt", ".md", ".html", ".svg", ".mmd", ".puml", ".diagram.svg")
"""Every format but the recording (.json): transcripts and sequence diagrams."""


def written(tmp_path: Path) -> dict[str, str]:
    """Every file under ``tmp_path`` that smtpstep may have written (transcripts, logs), as text."""
    return {str(path.relative_to(tmp_path)): path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(tmp_path.rglob("*")) if path.is_file()}


def readable(path: Path) -> str:
    """What a reader of the file sees: Markdown's escapes, HTML's and SVG's tags and entities, Mermaid's entity
    codes and PlantUML's undone."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".html", ".svg"):  # .diagram.svg too
        text = html.unescape(re.sub(r"<[^>]*>", "", text)).replace("\xa0", " ")
    if path.suffix == ".mmd":  # Mermaid's entity codes (#92; for a backslash)
        text = re.sub(r"#(\d+);", lambda found: chr(int(found.group(1))), text)
    if path.suffix == ".puml":  # PlantUML's <U+005C>
        text = re.sub(r"<U\+([0-9A-F]{4,6})>", lambda found: chr(int(found.group(1), 16)), text)
    if path.suffix == ".md":
        text = re.sub(r"\\([\\`*_\[\]<>#|])", r"\1", text)
    return text


def one_line(err: str) -> str:
    """stderr is one line in smtpstep's voice (a file's problem starts with the file's name)."""
    assert err.startswith("smtpstep") and err.endswith("\n") and err.count("\n") == 1, repr(err)
    return err


def assert_nothing_raw(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert_no_raw_controls(run.out, "stdout")
    assert_no_raw_controls(run.err, "stderr")
    for name, text in written(tmp_path).items():
        assert_no_raw_controls(text, name)


async def test_run_shows_a_hostile_server_escaped_in_every_output(cli_env: dict[str, str], tmp_path: Path) -> None:
    async with HostileServer("hostile-text") as server:
        runs = {}
        for suffix in (*FORMATS, ".json"):
            out = tmp_path / f"session{suffix}"
            runs[suffix] = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "none",
                                          "--timeout", "5", "--transcript", str(out), env=cli_env)

    for run in runs.values():
        assert run.code == 0, run.err
        assert run.err == ""
        assert_nothing_raw(run, tmp_path)
    out = runs[".txt"].out
    assert f"S: 220 hostile.test {ESCAPED_OSC52}" in out  # the greeting, shown as text
    assert f"S: 250-X-{ESCAPED_OSC52}" in out  # an EHLO keyword
    summary = out.splitlines()[-1]
    assert summary.startswith("  == done: the message was accepted (“250 2.0.0 queued \\x1b]52;c;"), summary
    assert (tmp_path / "session.txt").read_text(encoding="utf-8") == out
    for suffix in FORMATS:
        text = readable(tmp_path / f"session{suffix}")
        assert "\\x1b]52;c;" in text, suffix  # the escaped form, under the format's own escaping
        if suffix in (".txt", ".md", ".html", ".svg"):  # a diagram's labels are cut before the markup
            assert "[bold red]markup[/]" in text, suffix  # markup shown as written, not interpreted
    # The recording keeps the server's words exact: JSON escapes what a terminal must not see.
    document = json.loads((tmp_path / "session.json").read_text(encoding="utf-8"))
    assert any(HOSTILE_TEXT in chunk.get("data", {}).get("$bytes", "") for chunk in document["chunks"])


@pytest.mark.parametrize("phase", REFUSING_PHASES)
async def test_a_hostile_refusal_is_one_escaped_sentence(phase: str, cli_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    security = "starttls" if phase == "starttls" else "none"
    args = ["--security", security]
    env = dict(cli_env)
    if phase == "auth":
        args += ["--user", "alice", "--allow-cleartext-auth"]
        env["SMTPSTEP_PASSWORD"] = "not-a-real-secret"
    async with HostileServer(f"hostile-text-refuses-{phase}") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--timeout", "5",
                             "--transcript", str(tmp_path / "refused.txt"), *args, env=env)

    assert run.code == PHASE_EXIT[phase], run.err
    assert_nothing_raw(run, tmp_path)
    assert "\\x1b]52;c;" in one_line(run.err)  # one line (a 4xx adds a hint as a second sentence)


async def test_an_over_long_hostile_line_is_refused_with_an_escaped_quote(cli_env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    async with HostileServer("hostile-text-too-long") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "none",
                             "--timeout", "5", env=cli_env)

    assert run.code == EXIT["greeting"]
    assert_nothing_raw(run, tmp_path)
    assert "longer than 4096 octets" in assert_one_plain_sentence(run.err)


@pytest.mark.parametrize("ca", [False, True], ids=["untrusted", "trusted-but-wrong-names"])
async def test_a_hostile_certificate_is_described_escaped(ca: bool, cli_env: dict[str, str], tmp_path: Path) -> None:
    from tests.support.hostile_server import hostile_certificate_pem

    args = []
    if ca:  # the self-signed certificate as its own CA: trusted, but none of its names is 127.0.0.1
        pem = tmp_path / "ca.pem"
        pem.write_bytes(hostile_certificate_pem().split(b"-----BEGIN PRIVATE KEY-----")[0])
        args = ["--ca", str(pem)]
    async with HostileServer("hostile-text", hostile_certificate=True) as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "starttls",
                             "--timeout", "5", *args, env=cli_env)

    assert run.code == EXIT["tls"], run.err
    assert_nothing_raw(run, tmp_path)
    assert_one_plain_sentence(run.err)
    subject = next(line for line in run.out.splitlines() if "certificate 1 of 1:" in line)
    # RFC 4514 §2.4 escapes the DN's own specials (";" as "\\;"), smtpstep the controls.
    assert "CN=\\x1b]52\\;c\\;cm0gLXJmIH4=\\x07\\x1b]0\\;PWNED-TITLE\\x07" in subject, subject
    assert "\\u202e" in subject and "\\x9b" in subject
    names = next(line for line in run.out.splitlines() if "names:" in line)
    assert "\\x1b]52;c;" in names and "\\x1b]0;" in names, names


# --- Lesson files ---------------------------------------------------------------------------------------


async def test_lessons_shows_a_hostile_lesson_escaped(cli_env: dict[str, str], tmp_path: Path) -> None:
    lesson = write_hostile_lesson(tmp_path / "evil.toml")
    run = await smtpstep("lessons", str(lesson), env=cli_env)

    assert run.code == 0, run.err
    assert_nothing_raw(run, tmp_path)
    assert run.out.startswith(f"evil: Evil {ESCAPED_OSC52}")
    assert "part 2 of 2: Part 2 \\x1b]52;c;" in run.out and "[bold red]markup[/]" in run.out


async def test_run_narrates_a_hostile_lesson_escaped(cli_env: dict[str, str], tmp_path: Path) -> None:
    lesson = write_hostile_lesson(tmp_path / "evil.toml")
    run = await smtpstep("run", "--lesson", str(lesson), "--transcript", str(tmp_path / "lesson.txt"), env=cli_env)

    assert run.code == 0, run.err
    assert_nothing_raw(run, tmp_path)
    narration = [line for line in run.out.splitlines() if line.startswith("  » ")]
    assert len(narration) == 16 and all(line == f"  » {ESCAPED_OSC52}" + narration[0][4 + len(ESCAPED_OSC52):]
                                        for line in narration)
    assert "C: EHLO evil\\x1b]0;TITLE\\x07.test" in run.out  # the lesson's EHLO name, on the wire
    received = [line for line in run.out.splitlines() if line.startswith("  server|") and "Received:" in line]
    assert len(received) == 2 and all("Received: from evil" in line for line in received)  # the server's side


@pytest.mark.parametrize("field", ["security", "scenario", "kind"])
async def test_a_lesson_error_quotes_the_hostile_value_escaped(field: str, cli_env: dict[str, str],
                                                               tmp_path: Path) -> None:
    text = hostile_lesson_text()
    evil = toml_string(OSC52 + OSC0 + "\u202e")  # within the limits of these fields: 64 characters
    text = {
        "security": text.replace('security = "none"', f"security = {evil}"),
        "scenario": text.replace('scenario = "normal"', f"scenario = {evil}"),
        "kind": text.replace('kind = "ehlo"', f"kind = {EVIL}", 1),
    }[field]
    lesson = tmp_path / "bad.toml"
    lesson.write_text(text, encoding="utf-8")
    for args in (("lessons", str(lesson)), ("run", "--lesson", str(lesson))):
        run = await smtpstep(*args, env=cli_env)
        assert run.code == 2, run.err
        assert_nothing_raw(run, tmp_path)
        assert "\\x1b]52;c;" in one_line(run.err)


# --- Recordings -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording of a session with the hostile-text server, with the hostile text in every other text field too."""
    import asyncio

    from tests.support.env import clean_env

    folder = tmp_path_factory.mktemp("hostile-recording")

    async def record() -> Path:
        async with HostileServer("hostile-text") as server:
            run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--security", "none",
                                 "--transcript", str(folder / "plain.json"), env=clean_env(folder))
        assert run.code == 0, run.err
        return write_hostile_recording(folder / "plain.json", folder / "evil.json")

    return asyncio.run(record())


async def test_replay_exports_a_hostile_recording_escaped(hostile_recording: Path, cli_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    for suffix in (*FORMATS, ".json"):
        out = tmp_path / f"replayed{suffix}"
        run = await smtpstep("replay", str(hostile_recording), "--transcript", str(out), env=cli_env)
        assert run.code == 0, run.err
        assert_nothing_raw(run, tmp_path)
        text = readable(out)
        if suffix != ".json":
            assert "\\x1b]52;c;" in text, suffix
    txt = (tmp_path / "replayed.txt").read_text(encoding="utf-8")
    assert txt.startswith("  == smtpstep session: 127.0.0.1:") and f"no TLS {ESCAPED_OSC52}" in txt.splitlines()[0]
    assert f"C: EHLO client.smtpstep.test {ESCAPED_OSC52}" in txt
    # The exact words survive a round trip through a .json export.
    again = json.loads((tmp_path / "replayed.json").read_text(encoding="utf-8"))
    assert again["meta"]["target"].endswith(HOSTILE_TEXT)


async def test_a_recording_error_quotes_the_hostile_value_escaped(cli_env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "smtpstep recording", "version": 1, "meta": {},
                                  "views": [{"$type": HOSTILE_TEXT}], "chunks": []}), encoding="utf-8")
    run = await smtpstep("replay", str(broken), "--transcript", str(tmp_path / "out.txt"), env=cli_env)

    assert run.code == 2
    assert_nothing_raw(run, tmp_path)
    assert "\\x1b]52;c;" in one_line(run.err)


# --- smtpstep serve: its clients' words ----------------------------------------------------------------


def test_serve_prints_a_clients_hostile_addresses_escaped(tmp_path: Path) -> None:
    import signal
    import socket

    from tests.app.commands.test_serve import start_serve

    served = start_serve(tmp_path)
    try:
        quoted_local = '"' + HOSTILE_TEXT.replace("\0", "").replace('"', "").replace("\\", "") + '"'
        with socket.create_connection(("127.0.0.1", served.ports["plain"]), timeout=10) as client:
            reader = client.makefile("rb")

            def say(line: str) -> bytes:
                client.sendall(line.encode("utf-8") + b"\r\n")
                while (reply := reader.readline())[3:4] == b"-":
                    pass
                return reply

            assert reader.readline().startswith(b"220")
            assert say("EHLO evil.test").startswith(b"250")
            assert say(f"MAIL FROM:<{quoted_local}@evil.test> SMTPUTF8").startswith(b"250")
            assert say(f"RCPT TO:<{quoted_local}@example.test>").startswith(b"250")
            assert say("DATA").startswith(b"354")
            client.sendall(b"Subject: hi\r\n\r\nhello\r\n.\r\n")
            assert reader.readline().startswith(b"250")
            say("QUIT")
        assert served.process.stdout is not None
        received = served.process.stdout.readline()
    finally:
        code, out, err = served.stop(signal.SIGTERM)

    assert received.startswith("received: from <")
    assert_no_raw_controls(received + out, "serve's stdout")
    assert_no_raw_controls(err, "serve's stderr")
    assert received.count("\\x1b]52;c;") == 2, received  # the sender and the recipient, both shown escaped
    assert code == 0
