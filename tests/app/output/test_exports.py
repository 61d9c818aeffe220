"""Transcript exports: every format holds every step and no secret; `smtpstep run --transcript` and
`smtpstep replay --transcript` as a user runs them (subprocesses with their own XDG directories)."""

from __future__ import annotations

import datetime
import html
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from smtpstep.app.output.diagrams import DIAGRAM_SUFFIXES
from smtpstep.app.output.exports import SUFFIXES, ExportError, export, render, step_caption, step_slug
from smtpstep.app.session.recording import Recording, record_session
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.session.transcript import Transcript
from tests.support.env import REPO

if TYPE_CHECKING:
    from smtpstep.protocol.server.server import LocalServer

SECRETS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t")
TRANSCRIPTS = [suffix for suffix in SUFFIXES if suffix not in DIAGRAM_SUFFIXES]
"""The formats that hold the transcript (the sequence diagrams are tested in test_diagrams.py)."""
NOW = datetime.datetime(2026, 11, 28, 9, 0, tzinfo=datetime.timezone.utc)
SETTINGS = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                           password="classroom")


@pytest.fixture
async def recording(local_server: LocalServer) -> Recording:
    return await record_session(SETTINGS, local_server, now=NOW, message_id="<exports@client.smtpstep.test>")


def _readable(text: str, suffix: str) -> str:
    """The text a reader sees: HTML without tags, unescaped (Rich writes spaces as &#160;); SVG as the rows of
    the picture, each run of text in its column (runs start and end with no blank)."""
    if suffix == ".svg":
        rows: dict[float, dict[int, str]] = {}
        for x, y, words in re.findall(r'<text class="[^"]*-r\d+" x="([-\d.]+)" y="([-\d.]+)"[^>]*>(.*?)</text>', text):
            rows.setdefault(float(y), {})[round(float(x) / 12.2)] = html.unescape(words).replace("\xa0", " ")
        lines = []
        for runs in (rows[y] for y in sorted(rows)):
            line = ""
            for column in sorted(runs):
                line = line.ljust(column) + runs[column]
            lines.append(line)
        return "\n".join(lines)
    if suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", "", text)).replace("\xa0", " ")
    return text


def _wire_lines(recording: Recording, step: int) -> list[str]:
    transcript = Transcript()
    return [line.text for chunk in recording.chunks_of(step) for line in transcript.feed(chunk)] + [
        line.text for line in transcript.flush()]


@pytest.mark.parametrize("suffix", TRANSCRIPTS)
async def test_every_format_holds_every_step(recording: Recording, suffix: str) -> None:
    text = _readable(render(recording, suffix, theme="print"), suffix)

    if suffix == ".json":
        assert Recording.from_json(text).steps == recording.steps
        return
    for step in range(1, recording.steps + 1):
        if suffix != ".txt":
            assert step_caption(recording.view_at(step), recording.steps) in text, step
        for line in _wire_lines(recording, step):
            assert line.strip() in text, (step, line)
    assert "Step 12 of 12 — QUIT: 221 closing connection" in text or suffix == ".txt"


@pytest.mark.parametrize("suffix", TRANSCRIPTS)
async def test_no_format_shows_a_secret_unless_asked(recording: Recording, suffix: str) -> None:
    hidden = render(recording, suffix, theme="print")
    shown = _readable(render(recording, suffix, theme="print", show_secrets=True), suffix)

    for secret in SECRETS:
        assert secret not in hidden and secret not in _readable(hidden, suffix)
    assert "AHN0dWRlbnQAY2xhc3Nyb29t" in shown


@pytest.mark.parametrize("suffix", SUFFIXES)
async def test_a_recording_saved_redacted_shows_no_secret_even_when_asked(recording: Recording, suffix: str) -> None:
    redacted = Recording.from_json(recording.to_json())

    text = render(redacted, suffix, theme="print", show_secrets=True)

    for secret in SECRETS:
        assert secret not in text


async def test_captions_and_file_names_say_what_each_step_did(recording: Recording) -> None:
    captions = [step_caption(recording.view_at(n), recording.steps) for n in range(1, recording.steps + 1)]
    slugs = [step_slug(recording.view_at(n)) for n in range(1, recording.steps + 1)]

    assert captions[0] == "Step 1 of 12 — connect: connected"
    assert captions[7] == "Step 8 of 12 — MAIL FROM: 250 sender accepted"
    assert slugs == ["connect", "greeting", "ehlo", "starttls", "tls-handshake", "ehlo-after-starttls", "auth-plain",
                     "mail", "rcpt", "data", "message", "quit"]


async def test_markdown_shows_angle_brackets_and_fences_the_wire(recording: Recording) -> None:
    text = render(recording, ".md")

    assert "## Step 11 of 12 — the message and the final dot: 250 message accepted" in text
    assert "\\<CRLF\\>.\\<CRLF\\>" in text  # Markdown would swallow <CRLF> as an HTML tag
    assert "```text\nC: MAIL FROM:<student@client.smtpstep.test>" in text  # no escaping inside the fence
    assert "C: ..This line starts with a dot" in text


async def test_svg_and_html_need_no_web_font_and_keep_two_dots(recording: Recording) -> None:
    svg, page = render(recording, ".svg", theme="print"), render(recording, ".html", theme="print")

    assert "@font-face" not in page and "url(data:font/woff;base64," in svg  # the SVG embeds the bundled font
    for text in (svg, page):
        assert "Fira Code" not in text
        assert not re.search(r"url\(\s*[\"']?(https?:)?//", text)
        assert "font-variant-ligatures: none" in text
    assert "Noto Color Emoji" not in svg  # librsvg would draw digits from it, two cells wide
    assert "..This" in _readable(svg, ".svg")


async def test_html_and_svg_take_the_theme_colours(recording: Recording) -> None:
    assert "#ffffff" in render(recording, ".html", theme="print").lower()
    assert "#14161a" in render(recording, ".svg", theme="smtpstep-dark").lower()


async def test_unknown_formats_themes_and_folders_are_export_errors(recording: Recording, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"\.md"):
        render(recording, ".pdf")
    with pytest.raises(ExportError, match="print"):
        render(recording, ".svg", theme="no-such-theme")
    with pytest.raises(ExportError, match="cannot be written"):
        export(recording, tmp_path / "missing" / "x.md")


# --- As a user runs them ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(module_env: dict[str, str]) -> dict[str, str]:
    return module_env


@pytest.fixture(scope="module")
def printed(env: dict[str, str]) -> list[str]:
    """What `smtpstep run` prints without --transcript, in the shape ``_shape`` gives."""
    plain = smtpstep("run", env=env)
    assert plain.returncode == 0, plain.stderr
    return _shape(plain.stdout)


def smtpstep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "smtpstep.app.cli", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def _shape(stdout: str) -> list[str]:
    """What a printed transcript says, without ports, times, fingerprints and queue IDs."""
    return [re.sub(r"\d+(\.\d+)?", "N", re.sub(r"[0-9A-F]{2}(:[0-9A-F]{2})+", "FP", line))
            for line in stdout.splitlines()]


@pytest.mark.parametrize("suffix", [".md", ".html", ".svg", ".json"])
def test_run_writes_every_format_and_prints_what_it_always_printed(env: dict[str, str], printed: list[str],
                                                                   tmp_path: Path, suffix: str) -> None:
    done = smtpstep("run", "--transcript", str(tmp_path / f"session{suffix}"), env=env)

    assert done.returncode == 0, done.stderr
    assert _shape(done.stdout) == printed
    text = (tmp_path / f"session{suffix}").read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in text
    if suffix == ".json":
        assert Recording.from_json(text).steps == 12
    else:
        readable = _readable(text, suffix)
        for step in range(1, 13):
            assert f"Step {step} of 12 — " in readable


def test_replay_exports_a_recording_made_by_run(env: dict[str, str], tmp_path: Path) -> None:
    smtpstep("run", "--transcript", str(tmp_path / "session.json"), env=env)

    done = smtpstep("replay", str(tmp_path / "session.json"), "--transcript", str(tmp_path / "again.md"), env=env)

    assert done.returncode == 0, done.stderr
    recording = Recording.load(tmp_path / "session.json")
    assert (tmp_path / "again.md").read_text(encoding="utf-8") == render(recording, ".md")


def test_replay_of_a_broken_file_says_so_in_one_sentence(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"format": "smtpstep recording", "version": 1', encoding="utf-8")

    done = smtpstep("replay", str(tmp_path / "broken.json"), "--transcript", str(tmp_path / "x.md"), env=env)

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not valid JSON" in done.stderr
    assert not (tmp_path / "x.md").exists()
