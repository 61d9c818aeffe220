"""The password never leaks: not in any output of ``smtpstep run``, the stepper app, its
screenshots or its logs, unless the user reveals it on purpose.

Sessions authenticate with AUTH PLAIN, LOGIN and CRAM-MD5 against the built-in server addressed as a
real one (``--server``, ``--ca``, the password in ``SMTPSTEP_PASSWORD``). A test scenario makes the
server offer a single mechanism, so the client has to use it. Every output is searched for the
password and for every base64 text that could carry it: the three alignments of its base64 (any
base64 stream holding the password holds one of them), which covers AUTH PLAIN's
``b64("\\0user\\0password")`` and LOGIN's ``b64(password)``. CRAM-MD5 sends an HMAC, not the
password; its answer is still redacted, and the password must not appear either.

Then the guard rails: no password flag, and no AUTH over plain text to a server that is not the
built-in one unless the user says so (``--allow-cleartext-auth``; the app asks in a dialog, which
``tests/app/test_stepper_app.py`` covers).
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpstep.app.config import state_dir
from smtpstep.app.screens.dialogs import ConfirmScreen
from smtpstep.app.screens.main import MainScreen
from smtpstep.app.session.settings import TRANSCRIPT_SUFFIXES, SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from smtpstep.app.widgets.explanation import ExplanationPane
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.server.scenarios import SCENARIOS, Scenario
from smtpstep.protocol.server.server import LocalServer
from tests.support.cli import assert_one_plain_sentence, smtpstep
from tests.support.hostile_server import HostileServer
from tests.support.waiting import started, wait_for_step

PASSWORD = DEMO_PASSWORD
"""The only password the built-in server accepts ("classroom")."""
MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def base64_carriers(secret: bytes) -> set[str]:
    """Texts one of which appears in any base64 encoding that contains ``secret``.

    Base64 turns 3 bytes into 4 characters, so the secret is encoded one of three ways depending on
    where it starts; each way is fixed for the whole groups of 3 that lie inside the secret.
    """
    carriers = set()
    for skip in range(3):
        inside = secret[skip:][: (len(secret) - skip) // 3 * 3]
        if len(inside) >= 6:  # 8 characters or more: will not turn up by chance
            carriers.add(b64(inside))
    return carriers


SECRETS = frozenset({
    PASSWORD,
    b64(PASSWORD.encode()),  # AUTH LOGIN's password line
    b64(f"\0{DEMO_USER}\0{PASSWORD}".encode()),  # AUTH PLAIN's payload
    PASSWORD.encode().hex(),
    *base64_carriers(PASSWORD.encode()),
})
"""The password and every form that carries it."""


def leaks(text: str) -> list[str]:
    return sorted(secret for secret in SECRETS if secret in text)


def svg_text(svg: str) -> str:
    """What an SVG shows, as text: tags dropped, entities decoded (a secret split by styling shows too)."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg))


def files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        if folder.exists():
            yield from (path for path in folder.rglob("*") if path.is_file())


def assert_no_leak_in_files(*folders: Path) -> None:
    for path in files_under(*folders):
        text = path.read_bytes().decode("utf-8", "replace")
        assert not leaks(text), (path, leaks(text))
        if path.suffix == ".svg":
            assert not leaks(svg_text(text)), (path, leaks(svg_text(text)))


class OnlyOneMechanism(Scenario):
    """Offer exactly one AUTH mechanism, where the server would offer AUTH at all (after TLS)."""

    name = "test-only-one-mechanism"
    summary = "test: AUTH offers one mechanism"
    mechanism = "PLAIN"
    offer_without_tls = False
    """Offer AUTH before TLS too (the built-in server still refuses it there with 538, RFC 4954 §4)."""

    def ehlo(self, lines: list[str]) -> list[str]:
        kept = [line for line in lines if not line[4:].upper().startswith("AUTH")]
        if len(kept) != len(lines) or self.offer_without_tls:
            kept.insert(len(kept) - 1, f"250-AUTH {self.mechanism}")
        return kept


@pytest.fixture
def auth_server(local_server_factory, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``await auth_server("LOGIN")``: the built-in server offering only that mechanism."""

    async def start(mechanism: str, *, offer_without_tls: bool = False) -> LocalServer:
        name = f"test-only-{mechanism.lower()}{'-always' if offer_without_tls else ''}"
        scenario = type(f"Only{mechanism}", (OnlyOneMechanism,), {
            "name": name, "mechanism": mechanism, "offer_without_tls": offer_without_tls})
        monkeypatch.setitem(SCENARIOS, name, scenario)
        return await local_server_factory(scenario=name)

    return start


# --- smtpstep run ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_run_shows_the_password_nowhere_until_show_secrets(
    mechanism: str, auth_server, cli_env: dict[str, str], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    server = await auth_server(mechanism)
    env = dict(cli_env, SMTPSTEP_PASSWORD=PASSWORD)
    base = ["run", "--server", f"127.0.0.1:{server.port_for('starttls')}", "--ca", str(server.ca_path),
            "--user", DEMO_USER, "--timeout", "10"]
    # CRAM-MD5 never puts the password on the wire: two formats are enough there.
    suffixes = TRANSCRIPT_SUFFIXES if mechanism != "CRAM-MD5" else (".txt", ".json")
    transcripts = {suffix: tmp_path / f"transcript{suffix}" for suffix in suffixes}
    styles = ("textbook", "swaks")
    *runs, shown = await asyncio.gather(
        *(smtpstep(*base, "--transcript", str(path), "--style", styles[i % 2], env=env)
          for i, path in enumerate(transcripts.values())),
        smtpstep(*base, "--show-secrets", env=env),
    )

    for run in runs:
        assert run.code == 0, run.err
        assert not leaks(run.out) and not leaks(run.err), leaks(run.out + run.err)
    textbook = runs[0]
    assert f"AUTH {mechanism}" in " ".join(textbook.sent())
    secret_lines = {"PLAIN": 0, "LOGIN": 2, "CRAM-MD5": 1}[mechanism]  # answers to 334 challenges
    assert textbook.sent().count("********") == secret_lines
    for suffix, path in transcripts.items():
        assert path.stat().st_size > 0, suffix
    assert_no_leak_in_files(tmp_path, Path(cli_env["XDG_STATE_HOME"]), Path(cli_env["XDG_CONFIG_HOME"]),
                            Path(cli_env["XDG_DATA_HOME"]))
    # The stored mail does not carry the password either, and every run did authenticate.
    assert [m.auth_user for m in server.received] == [DEMO_USER] * (len(transcripts) + 1)
    assert_no_leak_in_files(server.maildir_path)

    # --show-secrets reveals exactly what AUTH sent.
    assert shown.code == 0, shown.err
    sent = shown.sent()
    if mechanism == "PLAIN":
        assert f"AUTH PLAIN {b64(f'{chr(0)}{DEMO_USER}{chr(0)}{PASSWORD}'.encode())}" in sent
    elif mechanism == "LOGIN":
        assert b64(DEMO_USER.encode()) in sent and b64(PASSWORD.encode()) in sent
    else:
        # The answer is "user HMAC-MD5(challenge)" in base64 (RFC 2195 §2): no password in it.
        answer = sent[sent.index("AUTH CRAM-MD5") + 1]
        user, digest = base64.b64decode(answer).decode().split(" ")
        assert user == DEMO_USER and re.fullmatch(r"[0-9a-f]{32}", digest)
        assert not leaks(shown.out)


def test_there_is_no_password_flag_and_its_value_is_never_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    from smtpstep.app.cli import _PASSWORD_FLAGS, main

    for flag in _PASSWORD_FLAGS:
        for args in (["run", flag, "hunter2"], ["run", f"{flag}=hunter2"], [flag, "hunter2"]):
            assert main(args) == 2
            captured = capsys.readouterr()
            assert "hunter2" not in captured.out + captured.err
            assert "SMTPSTEP_PASSWORD" in captured.err
    assert main(["run", "--help"]) == 0
    assert "--password" not in capsys.readouterr().out


# --- AUTH over plain text ---------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


async def test_auth_over_plain_text_to_a_real_server_is_refused_without_consent(
    listener: socket.socket, cli_env: dict[str, str]
) -> None:
    run = await smtpstep("run", "--server", f"127.0.0.1:{listener.getsockname()[1]}", "--security", "none",
                         "--user", DEMO_USER, env=dict(cli_env, SMTPSTEP_PASSWORD=PASSWORD))

    assert run.code == 2
    sentence = assert_one_plain_sentence(run.err)
    assert "unencrypted" in sentence and "--allow-cleartext-auth" in sentence
    with pytest.raises(BlockingIOError):
        listener.accept()  # refused before connecting


async def test_a_stripped_starttls_never_gets_the_password(cli_env: dict[str, str]) -> None:
    async with HostileServer("no-starttls") as server:
        run = await smtpstep("run", "--server", f"127.0.0.1:{server.port}", "--user", DEMO_USER, "--timeout", "5",
                             env=dict(cli_env, SMTPSTEP_PASSWORD=PASSWORD))

    assert run.code == 6
    assert server.commands == [b"EHLO client.smtpstep.test\r\n", b"QUIT\r\n"]


async def test_with_consent_auth_goes_over_plain_text_and_is_still_redacted(
    auth_server, cli_env: dict[str, str]  # type: ignore[no-untyped-def]
) -> None:
    # The plain listener offers AUTH before TLS here; the built-in server then refuses it (538, RFC 4954 §4).
    server = await auth_server("PLAIN", offer_without_tls=True)
    run = await smtpstep("run", "--server", f"127.0.0.1:{server.port_for('none')}", "--security", "none",
                         "--user", DEMO_USER, "--allow-cleartext-auth", "--timeout", "5",
                         env=dict(cli_env, SMTPSTEP_PASSWORD=PASSWORD))

    assert "AUTH PLAIN ********" in run.sent()  # it went, as the user asked
    assert not leaks(run.out + run.err)
    assert run.code == 7
    assert "538" in assert_one_plain_sentence(run.err)
    assert server.received == []


# --- The stepper app ------------------------------------------------------------------------------------


@pytest.fixture
def app_log() -> Iterator[Path]:
    """Logging as ``run_tui`` sets it up: INFO and above into the state directory's smtpstep.log."""
    path = state_dir() / "smtpstep.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()



def what_the_app_shows(app: SmtpStepApp) -> str:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return "\n".join([*app.wire_log.plain_lines(), screen.query_one(ExplanationPane).plain_text,
                      str(screen.query_one("#header").render())])


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_the_app_shows_the_password_nowhere_until_revealed(
    mechanism: str, auth_server, tmp_path: Path, app_log: Path  # type: ignore[no-untyped-def]
) -> None:
    server = await auth_server(mechanism)
    settings = SessionSettings(server=f"127.0.0.1:{server.port_for('starttls')}", security="starttls",
                               ca_file=server.ca_path, insecure=False, user=DEMO_USER, password=PASSWORD, timeout=10)
    shots, revealed = tmp_path / "shots", tmp_path / "revealed"
    app = SmtpStepApp(settings, screenshot_dir=shots)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await started(app)
        while view.queue:
            # What space does; pressing it also waits for the process to go idle, which costs seconds here.
            view = await wait_for_step(app, app.run_action("step"))
            assert not leaks(what_the_app_shows(app)), (app.session_view.steps_done, leaks(what_the_app_shows(app)))
            app.action_screenshot()  # after every step: what the audience saw
            await app.workers.wait_for_complete()  # the capture takes a frame
        assert app.session_view is not None and app.session_view.last is not None
        assert app.session_view.last.failure is None
        assert any(line.startswith(f"C: AUTH {mechanism}") for line in app.wire_log.plain_lines())
        # Every way of redrawing the wire log (keys w, l, z, L; actions called directly, as pressing a key
        # waits for the whole process to go idle): still redacted.
        screen = app.main_screen
        for toggle in (screen.action_wire_style, screen.action_crlf, screen.action_fold, screen.action_toggle_tls):
            toggle()
            await pilot.pause(0.01)
            assert not leaks(what_the_app_shows(app))
        app.action_screenshot()
        await app.workers.wait_for_complete()
        screen.action_reveal()  # key v: reveal, on purpose, after a question
        await pilot.pause(0.01)
        assert isinstance(app.screen, ConfirmScreen) and not leaks("\n".join(app.wire_log.plain_lines()))
        app.screen.dismiss(True)
        await pilot.pause(0.01)
        lines = app.wire_log.plain_lines()
        shown = "\n".join(lines)
        auth = next(i for i, line in enumerate(lines) if "AUTH" in line and line.lstrip(" -~>C:").startswith("AUTH"))
        app.wire_log.scroll_to(y=max(0, auth - 2), animate=False)  # the AUTH exchange on screen
        await pilot.pause()
        app.screenshot_dir = revealed
        app.action_screenshot()
        await app.workers.wait_for_complete()
    assert len(list(shots.glob("*.svg"))) >= 10
    assert_no_leak_in_files(shots, state_dir().parent, tmp_path / "server0")
    assert app_log.stat().st_size > 0  # the log did get the session (the server's own lines): just no secret
    # The reveal works, and the checks above would have seen it (CRAM-MD5 shows an HMAC, not the password).
    (svg,) = revealed.glob("*.svg")
    if mechanism == "PLAIN":
        assert b64(f"\0{DEMO_USER}\0{PASSWORD}".encode()) in shown and leaks(svg_text(svg.read_text()))
    elif mechanism == "LOGIN":
        assert b64(PASSWORD.encode()) in shown and leaks(svg_text(svg.read_text()))
    else:
        assert not leaks(shown) and "********" not in shown.split("AUTH CRAM-MD5", 1)[1].split("\n")[1]
    assert len(server.received) == 1 and server.received[0].auth_user == DEMO_USER
