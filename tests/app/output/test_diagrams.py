"""Sequence diagram exports (.mmd, .puml, .diagram.svg) for every lesson, parsed back and rendered.

Each lesson runs as ``smtpstep run --lesson NAME --transcript x.json`` does (a recording per part); each
part's three diagrams are written with ``export`` and read back with a strict parser of the subset
smtpstep writes (a line it does not know fails the test). Every command the client sent and every reply
it read must appear exactly once, in order, inside the TLS block exactly when they travelled in TLS,
and no secret may appear. The SVG renders in rsvg-convert and in Debian's headless Chromium, and the
pixels are where the drawing says.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from smtpstep.app.output.diagrams import DIAGRAM_SUFFIXES, mermaid_text, plantuml_text
from smtpstep.app.output.exports import export
from smtpstep.app.session.recording import Recording
from smtpstep.app.session.stepper import REFUSED_BEFORE_SENDING
from smtpstep.protocol.commands import Raw, Verb
from smtpstep.protocol.lessons.loader import catalog_names
from tests.support.lessons import run_lesson
from tests.support.png import read_png

SECRETS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t", "c3R1ZGVudA", "Y2xhc3Nyb29")
"""The demo password and the base64 forms that carry it (PLAIN, LOGIN)."""
PSEUDO = (Verb.CONNECT, Verb.GREETING, Verb.TLS_HANDSHAKE, Verb.DNS)
"""Steps that send the server no line (a DNS step asks DNS: a note beside the client, not an arrow)."""


@dataclass(frozen=True)
class Drawn:
    """One arrow as an export has it."""

    source: str
    target: str
    text: str
    reply: bool
    tls: bool


# --- Reading the exports back -------------------------------------------------------------------------


def _strip_number(text: str) -> str:
    return re.sub(r"^\d+\. ", "", text)


MERMAID_TEXT = r"(?:[^;#<\n]|#\d+;|<br/>)*"
"""A message or note: no statement end (;), no markup (<) but line breaks, every # an entity code."""


def parse_mermaid(text: str) -> tuple[dict[str, str], list[Drawn], list[tuple[str, bool]]]:
    """Participants, arrows and notes (text, inside TLS) of the Mermaid subset smtpstep writes."""
    names: dict[str, str] = {}
    arrows: list[Drawn] = []
    notes: list[tuple[str, bool]] = []
    tls = False
    decode = functools.partial(re.sub, r"#(\d+);", lambda m: chr(int(m.group(1))))
    lines = text.splitlines()
    assert lines[1] == "sequenceDiagram" and lines[0].startswith("%% ")
    for line in lines[2:]:
        if m := re.fullmatch(r"    participant (\w) as (.+)", line):
            names[m.group(1)] = decode(m.group(2))
        elif re.fullmatch(r"    rect rgb\(\d+, \d+, \d+\)", line):
            assert not tls
            tls = True
        elif line == "    end":
            assert tls
            tls = False
        elif m := re.fullmatch(rf" +(\w)(-->>|->>)(\w): ({MERMAID_TEXT})", line):
            arrows.append(Drawn(names[m.group(1)], names[m.group(3)], _strip_number(decode(m.group(4))),
                                m.group(2) == "-->>", tls))
        elif m := re.fullmatch(rf" +Note over (\w)(?:,(\w))?: ({MERMAID_TEXT})", line):
            notes.append((decode(m.group(3).replace("<br/>", " ")), tls))
        else:
            raise AssertionError(f"not a line smtpstep writes: {line!r}")
    assert not tls, "the TLS block is not closed"
    return names, arrows, notes


def parse_plantuml(text: str) -> tuple[dict[str, str], list[Drawn], list[tuple[str, bool]]]:
    """Participants, arrows and notes of the PlantUML subset smtpstep writes."""
    names: dict[str, str] = {}
    arrows: list[Drawn] = []
    notes: list[tuple[str, bool]] = []
    tls = False
    note: list[str] | None = None
    decode = functools.partial(re.sub, r"<U\+([0-9A-F]{4,6})>", lambda m: chr(int(m.group(1), 16)))
    lines = text.splitlines()
    assert lines[0] == "@startuml" and lines[-1] == "@enduml" and lines[1].startswith("title ")
    for line in lines[2:-1]:
        if note is not None:
            if line.strip() == "end note":
                notes.append((" ".join(note), tls))
                note = None
            else:
                note.append(decode(line.strip()))
        elif line == "skinparam defaultFontName DejaVu Sans Mono":
            continue
        elif m := re.fullmatch(r'participant "([^"]*)" as (\w)', line):
            names[m.group(2)] = decode(m.group(1))
        elif line == "group TLS (encrypted)":
            assert not tls
            tls = True
        elif line == "end":
            assert tls
            tls = False
        elif m := re.fullmatch(r" *(\w) (-->|->) (\w) : ([^\\\n]*)", line):
            arrows.append(Drawn(names[m.group(1)], names[m.group(3)], _strip_number(decode(m.group(4))),
                                m.group(2) == "-->", tls))
        elif re.fullmatch(r" *note over \w(, \w)?", line):
            note = []
        else:
            raise AssertionError(f"not a line smtpstep writes: {line!r}")
    assert not tls and note is None
    return names, arrows, notes


SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> tuple[dict[str, str], list[Drawn], list[tuple[str, bool]]]:
    """Arrows and notes of the SVG drawing (an XML parser); inside TLS = drawn within a TLS band."""
    root = ET.fromstring(text)
    bands = [(float(g.get("data-top", 0)), float(g.get("data-bottom", 0))) for g in root.iter(f"{SVG}g")
             if g.get("class") == "tls"]
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "tls":  # the band says so in words too
            assert {t.text for t in g.iter(f"{SVG}text")} & {"TLS", "inside TLS"}
    titles = {"client": "Client", "relay": "Relay (man in the middle)", "server": "Server", "mx": "MX (port 25)"}
    arrows, notes = [], []
    for g in root.iter(f"{SVG}g"):
        kind = (g.get("class") or "").split()
        y = float(g.get("data-y", -1))
        inside = any(top <= y <= bottom for top, bottom in bands)
        words = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
        if kind and kind[0] == "arrow":
            arrows.append(Drawn(titles[g.get("data-from", "")], titles[g.get("data-to", "")], words,
                                kind[1] == "reply", inside))
        elif kind and kind[0] == "note":
            notes.append((words, inside))
    return titles, arrows, notes


PARSERS = {".mmd": parse_mermaid, ".puml": parse_plantuml, ".diagram.svg": parse_svg}


# --- What the recording says happened -----------------------------------------------------------------


def exchanges(recording: Recording) -> list[tuple[str, bool, bool]]:
    """Every command the client sent (its label) and every reply it read (its code), in order, with
    whether each travelled inside TLS: (text, reply, tls)."""
    out = []
    tls = False
    for view in recording.views[1:]:
        result = view.last
        assert result is not None
        sent = result.failure is None or result.failure.kind not in REFUSED_BEFORE_SENDING
        for command in result.commands:
            verb = command.acts_as if isinstance(command, Raw) else command.verb
            if verb not in PSEUDO and sent:
                out.append((command.label, False, tls))
        out += [(str(answer.reply.code), True, tls) for answer in result.answers]
        tls = view.snapshot.tls is not None
    return out


def client_side(arrows: list[Drawn]) -> list[tuple[str, bool, bool]]:
    """What the client sent and read, as drawn (the relay's own hops left out)."""
    out = []
    for arrow in arrows:
        if arrow.text == "connect (TCP)":
            continue
        if arrow.source == "Client":
            out.append((arrow.text, False, arrow.tls))
        elif arrow.target == "Client":
            out.append((arrow.text[:3], True, arrow.tls))
    return out


def same_command(drawn: str, sent: str) -> bool:
    return drawn == sent or (drawn.endswith("…") and sent.startswith(drawn[:-1]))


# --- The lessons --------------------------------------------------------------------------------------


@functools.cache
def lesson_recordings(name: str, folder: Path) -> tuple[Recording, ...]:
    """The lesson run as ``smtpstep run --lesson NAME --transcript x.json``: one recording per part."""
    target = folder / f"{name}.json"
    run_lesson(name, "--transcript", str(target))
    parts = [target] + sorted(folder.glob(f"{name}-part*.json"))
    return tuple(Recording.load(path) for path in parts)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lessons")


@pytest.mark.parametrize("name", catalog_names())
def test_every_lesson_has_three_diagrams_with_each_exchange_once_in_order_and_tls_marked(name: str,
                                                                                           folder: Path) -> None:
    recordings = lesson_recordings(name, folder)
    assert recordings
    for number, recording in enumerate(recordings, 1):
        expected = exchanges(recording)
        assert expected, f"{name} part {number} sent nothing"
        for suffix in DIAGRAM_SUFFIXES:
            path = folder / f"{name}-{number}{suffix}"
            export(recording, path)
            text = path.read_text(encoding="utf-8")
            _, arrows, notes = PARSERS[suffix](text)
            drawn = client_side(arrows)
            where = f"{name} part {number} {suffix}"
            assert [(reply, tls) for _, reply, tls in drawn] == [(reply, tls) for _, reply, tls in expected], where
            for (shown, reply, _), (sent, _, _) in zip(drawn, expected):
                assert shown == sent if reply else same_command(shown, sent), (where, shown, sent)
            if any(tls for _, _, tls in expected):
                assert any("TLS handshake" in note and inside for note, inside in notes), where
            for secret in SECRETS:
                assert secret not in text, (where, secret)


def test_the_dns_steps_are_notes_beside_the_client_not_arrows_to_the_server(folder: Path) -> None:
    (recording,) = lesson_recordings("enumeration", folder)
    _, arrows, notes = parse_mermaid(_mmd(recording))
    assert [note for note, _ in notes[:2]] == ["1. DNS: MX example.test? → 10 mx.example.test.",
                                               "2. DNS: A mx.example.test? → 127.0.0.1"]
    assert not any("DNS" in arrow.text for arrow in arrows)


def test_the_stripping_lesson_draws_three_lifelines_and_the_relays_changes_where_they_happened(folder: Path) -> None:
    stripped, implicit = lesson_recordings("starttls-stripping", folder)

    names, arrows, notes = parse_mermaid((folder / "starttls-stripping-1.mmd").read_text(encoding="utf-8")
                                         if (folder / "starttls-stripping-1.mmd").exists() else _mmd(stripped))
    assert list(names.values()) == ["Client", "Relay (man in the middle)", "Server"]
    ehlo_reply = next(i for i, a in enumerate(arrows) if a.source == "Relay (man in the middle)"
                      and a.target == "Client" and a.text.startswith("250") and "·" in a.text)
    assert arrows[ehlo_reply - 1].source == "Server" and arrows[ehlo_reply - 1].reply  # the server's reply first
    assert "STARTTLS" not in arrows[ehlo_reply].text  # what the client saw
    assert any("deleted “250-STARTTLS”" in note for note, _ in notes)
    _, arrows2, notes2 = parse_mermaid(_mmd(implicit))
    assert any("implicit TLS" in note and not inside for note, inside in notes2)
    assert all(arrow.tls for arrow in arrows2 if arrow.text.startswith("EHLO"))


def _mmd(recording: Recording) -> str:
    from smtpstep.app.output.exports import render

    return render(recording, ".mmd")


@pytest.mark.parametrize("text", [
    "250 ok; Note over C,S: injected", "250 x\nC->>S: forged", "250 <b>bold</b> #35; %% comment",
    "250 **b** //i// --s-- [[http://x]] \\n @enduml", "250 end", "250 \x1b[31mred\x1b[0m ‮rtl",
])
def test_text_from_a_server_cannot_add_or_change_a_statement(text: str) -> None:
    mermaid, plantuml = mermaid_text(text), plantuml_text(text)

    for written in (mermaid, plantuml):
        assert "\n" not in written and "\r" not in written
    assert ";" not in re.sub(r"#\d+;", "", mermaid) and "<" not in mermaid
    assert not re.search(r"\*\*|//|--|\[\[|\\|@", plantuml.replace("<U+", "").replace(">", ""))
    assert re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), mermaid) == text
    assert re.sub(r"<U\+([0-9A-F]{4,6})>", lambda m: chr(int(m.group(1), 16)), plantuml) == text


# --- Rendering the SVG --------------------------------------------------------------------------------


RENDERED = ["basic", "starttls-stripping", "dot-stuffing"]


@pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert is not installed "
                    "(apt-get install librsvg2-bin); .ci/run installs it")
@pytest.mark.parametrize("name", RENDERED)
def test_the_diagram_svg_renders_in_rsvg_convert_with_its_lines_and_tls_band(name: str, folder: Path,
                                                                             tmp_path: Path) -> None:
    svg = tmp_path / "d.diagram.svg"
    export(lesson_recordings(name, folder)[0], svg)
    png = tmp_path / "d.png"
    subprocess.run(["rsvg-convert", "--zoom", "1", "--output", str(png), str(svg)], check=True, timeout=60)

    _check_pixels(svg.read_text(encoding="utf-8"), read_png(png.read_bytes()))


def _check_pixels(svg: str, image) -> None:  # type: ignore[no-untyped-def]
    """The first arrow's line is ink; inside a TLS band the paper is the band's blue; outside it, white."""
    root = ET.fromstring(svg)
    assert (image.width, image.height) == (round(float(root.get("width", 0))), round(float(root.get("height", 0))))
    arrow = next(g for g in root.iter(f"{SVG}g") if (g.get("class") or "").startswith("arrow"))
    line = next(arrow.iter(f"{SVG}line"))
    x = round((float(line.get("x1", 0)) + float(line.get("x2", 0))) / 2)
    y = round(float(line.get("y1", 0)))
    assert max(image.darkness(x, y + d) for d in (-1, 0, 1)) > 150
    assert image.darkness(x, y + 12) < 20 or image.pixel(x, y + 12) == (0xE2, 0xEC, 0xFA)
    for band in (g for g in root.iter(f"{SVG}g") if g.get("class") == "tls"):
        top, bottom = float(band.get("data-top", 0)), float(band.get("data-bottom", 0))
        colour = image.pixel(round(float(root.get("width", 0))) - 12, round((top + bottom) / 2))
        assert colour == (0xE2, 0xEC, 0xFA), colour


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium); "
                                             ".ci/run installs it")
def test_the_diagram_svg_renders_in_chromium_with_its_embedded_font(folder: Path, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    svg = tmp_path / "d.diagram.svg"
    export(lesson_recordings("starttls-stripping", folder)[0], svg)
    text = svg.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    width, height = round(float(root.get("width", 0))), round(float(root.get("height", 0)))
    shot = tmp_path / "d.png"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(svg.as_uri())
            page.evaluate("document.fonts.ready.then(() => true)")
            found = page.evaluate("""() => ({
                texts: [...document.querySelectorAll('text')].map(t => [t.textContent, t.getBBox().width]),
                faces: [...document.fonts].map(f => [f.family, f.status]),
            })""")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert found["texts"] and all(width > 0 for words, width in found["texts"] if words.strip())
    assert ['"DejaVu Sans Mono"', "loaded"] in found["faces"] or ["DejaVu Sans Mono", "loaded"] in found["faces"]
    _check_pixels(text, read_png(shot.read_bytes()))
