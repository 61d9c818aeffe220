"""Transcript exports of a recorded session, chosen by file extension, and the step captions they share.

``.txt``: the transcript in textbook (``C:``/``S:``) or swaks style, as ``smtpstep run`` prints it.
``.md``: one section per step ("Step 8 of 12 — MAIL FROM: 250 sender accepted"), its lines in a
fenced block and the explanation with its RFC section. ``.html`` and ``.svg``: the captioned
transcript in a smtpstep theme's colours, made by Rich's console export; the SVG goes through
``print_svg`` (the bundled font embedded, borders drawn as lines), so it renders the same anywhere.
``.json``: the recording. ``.mmd``, ``.puml`` and ``.diagram.svg``: the session as a sequence diagram
(Mermaid, PlantUML, a standalone drawing; ``diagrams.py``). ``.pcapng``: the session's own bytes as one
TCP connection for Wireshark (``pcapng.py``, written by ``capture.py``), with the TLS keys embedded only
when they are given.

Rules:
- every format holds every step of the recording;
- secrets are absent unless asked: secret spans are masked by ``Transcript`` and the password and
  its base64 forms are blanked in every piece of text, whatever the recording holds;
- no Textual: the themes' colours are read from ``themes`` (Textual's ``Theme`` values, not the
  app), and Rich and the themes are imported only for ``.html`` and ``.svg``, so that ``smtpstep
  run --transcript x.md`` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smtpstep.app.session.diagram import FAILURE_WORDS, diagram_of
from smtpstep.app.session.narration import Block, narrate, step_key
from smtpstep.app.session.recording import Recording, RecordingError
from smtpstep.app.session.settings import TRANSCRIPT_SUFFIXES
from smtpstep.app.session.stepper import SessionView
from smtpstep.app.session.transcript import SECRET_MASK, Transcript, TranscriptLine
from smtpstep.protocol.commands import Verb
from smtpstep.protocol.explanations import explain_step
from smtpstep.protocol.text import shown
from smtpstep.protocol.transport.wire import Direction, WireChunk

if TYPE_CHECKING:
    pass

SUFFIXES = (".txt", ".md", ".html", ".svg", ".json", ".mmd", ".puml", ".diagram.svg")
"""The text formats, by file extension (``.svg`` is the transcript, ``.diagram.svg`` the sequence diagram)."""
BINARY_SUFFIXES = (".pcapng",)
"""Formats written as bytes by ``export`` (not ``render``): the session's capture."""
assert set(SUFFIXES + BINARY_SUFFIXES) == set(TRANSCRIPT_SUFFIXES), \
    "smtpstep.app.session.settings lists the formats --transcript accepts"

_NARRATED = ("halt", "error", "warning", "step", "reply")
"""The explanation blocks an export shows; digits, enhanced codes and EHLO keywords stay in the app."""


class ExportError(Exception):
    """The export cannot be made or written; ``str(error)`` says why in one plain sentence."""


# --- Captions -----------------------------------------------------------------------------------------


def step_title(view: SessionView) -> str:
    """What the step did, in the catalog's words: "MAIL FROM", "EHLO again after STARTTLS"."""
    if view.last is None:
        return "before the first step"
    return explain_step(step_key(view.last.commands[-1], view)).title


def step_outcome(view: SessionView) -> str:
    """What came of the step, in a few words: "250 sender accepted", "TLS is on (TLSv1.3)", ""."""
    result = view.last
    if result is None:
        return ""
    if result.failure is not None:
        return FAILURE_WORDS.get(result.failure.kind, "it failed")
    if result.answers:
        reply = result.answers[-1].reply
        meaning = next((b.title for b in narrate(view) if b.kind == "reply"), "")
        meaning = re.sub(r"^\d{3}:\s*", "", meaning)
        return f"{reply.code} {meaning}".strip()
    verb = result.commands[-1].verb
    if verb == Verb.CONNECT:
        return "connected"
    if verb == Verb.TLS_HANDSHAKE and result.snapshot.tls is not None and result.snapshot.tls.version:
        return f"TLS is on ({result.snapshot.tls.version})"
    return ""


def step_caption(view: SessionView, total: int, number: int | None = None) -> str:
    """"Step 8 of 12 — MAIL FROM: 250 sender accepted" for the view after step 8 (step 0: the start).

    ``number`` is the step's place in a recording; by default the count of steps the view has taken.
    """
    number = view.steps_done if number is None else number
    if view.last is None or number == 0:
        return f"Before the first step (0 of {total})"
    outcome = step_outcome(view)
    return f"Step {number} of {total} — {step_title(view)}" + (f": {outcome}" if outcome else "")


def step_slug(view: SessionView) -> str:
    """A file-name word for the step: "connect", "greeting", "ehlo-after-starttls", "mail"."""
    if view.last is None:
        return "start"
    return re.sub(r"[^a-z0-9]+", "-", step_key(view.last.commands[-1], view).lower()).strip("-") or "step"


# --- The steps of a recording, ready to render --------------------------------------------------------


@dataclass(frozen=True)
class ExportStep:
    """One step as every format shows it."""

    number: int
    caption: str
    lines: tuple[TranscriptLine, ...]
    blocks: tuple[Block, ...]


class Blank:
    """Blanks the password and its base64 forms in text (unless secrets are shown)."""

    def __init__(self, recording: Recording, show_secrets: bool) -> None:
        self.forms = () if show_secrets else recording.hide

    def __call__(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, SECRET_MASK)
        return text


def export_steps(recording: Recording, *, style: str = "textbook", show_secrets: bool = False,
                 crlf_marks: bool = False) -> list[ExportStep]:
    """Every step of the recording: its caption, its transcript lines and its explanation."""
    transcript = Transcript(style=style, show_secrets=show_secrets, crlf_marks=crlf_marks)
    total = recording.steps
    steps = []
    for number in range(1, total + 1):
        chunks = recording.chunks_of(number)
        if number == total:
            chunks += recording.chunks[recording.view_at(number).snapshot.wire_count:]
        lines: list[TranscriptLine] = []
        for chunk in chunks:
            lines += transcript.feed(chunk)
        lines += transcript.flush()
        view = recording.view_at(number)
        blocks = tuple(b for b in narrate(view) if b.kind in _NARRATED)
        steps.append(ExportStep(number, step_caption(view, total, number), tuple(lines), blocks))
    return steps


def header_lines(recording: Recording, show_secrets: bool) -> list[str]:
    meta = recording.meta
    target = str(meta.get("target") or "an SMTP server")
    created = _when(str(meta.get("created") or ""))
    version = str(meta.get("smtpstep") or "")
    secrets = "secrets shown" if show_secrets and not recording.redacted else f"secrets redacted as {SECRET_MASK}"
    facts = [f"recorded {created}" if created else "", f"smtpstep {version}" if version else "",
             plural(recording.steps, "step"), secrets]
    # A recording's meta data is the file's word (a replayed file may come from anyone): shown.
    return [shown(f"smtpstep session: {target}"), shown(", ".join(f for f in facts if f))]


# --- Formats ------------------------------------------------------------------------------------------


def render_txt(recording: Recording, *, style: str = "textbook", show_secrets: bool = False, **_: object) -> str:
    """The transcript, one line per wire line, as ``smtpstep run`` prints it (with a header note)."""
    blank = Blank(recording, show_secrets)
    transcript = Transcript(style=style, show_secrets=show_secrets)
    lines: list[TranscriptLine] = []
    for text in header_lines(recording, show_secrets):
        lines += transcript.feed(WireChunk(Direction.NOTE, b"", False, 0.0, 0, note=text))
    lines += transcript.feed_all(recording.chunks)
    return "".join(blank(line.plain()) + "\n" for line in lines)


def render_md(recording: Recording, *, style: str = "textbook", show_secrets: bool = False, **_: object) -> str:
    """Markdown: a section per step with its caption, its lines in a fenced block and its explanation."""
    blank = Blank(recording, show_secrets)
    title, facts = header_lines(recording, show_secrets)
    facts = md_escape(blank(facts[:1].upper() + facts[1:])).replace(md_escape(SECRET_MASK), f"`{SECRET_MASK}`")
    out = [f"# {md_escape(blank(title))}", "", facts + ".", ""]
    for step in export_steps(recording, style=style, show_secrets=show_secrets):
        out += [f"## {md_escape(blank(step.caption))}", ""]
        if step.lines:
            text = "\n".join(blank(line.plain()) for line in step.lines)
            fence = "`" * max(3, _longest_run(text, "`") + 1)
            out += [f"{fence}text", text, fence, ""]
        for block in step.blocks:
            rfc = f" *({md_escape(block.rfc)})*" if block.rfc else ""
            body = f" {md_escape(blank(block.text))}" if block.text else ""
            out += [f"**{md_escape(blank(as_sentence(block.title)))}**{body}{rfc}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def render_html(recording: Recording, **options: object) -> str:
    """A standalone HTML page: the captioned transcript in the theme's colours (``themed.py``)."""
    from smtpstep.app.output.themed import render_html as draw

    return draw(recording, **options)


def render_svg(recording: Recording, **options: object) -> str:
    """An SVG image of the captioned transcript in the theme's colours, with no web font (``themed.py``)."""
    from smtpstep.app.output.themed import render_svg as draw

    return draw(recording, **options)


def render_json(recording: Recording, *, show_secrets: bool = False, **_: object) -> str:
    """The recording itself (``smtpstep replay`` opens it)."""
    return recording.to_json(show_secrets=show_secrets)


def render_mmd(recording: Recording, **_: object) -> str:
    """The sequence diagram in Mermaid (``sequenceDiagram``); secrets always masked."""
    from smtpstep.app.output.diagrams import render_mmd as draw

    return draw(diagram_of(recording))


def render_puml(recording: Recording, **_: object) -> str:
    """The sequence diagram in PlantUML; secrets always masked."""
    from smtpstep.app.output.diagrams import render_puml as draw

    return draw(diagram_of(recording))


def render_diagram_svg(recording: Recording, **_: object) -> str:
    """The sequence diagram as a standalone SVG drawing; secrets always masked."""
    from smtpstep.app.output.diagrams import render_diagram_svg as draw

    return draw(diagram_of(recording))


RENDERERS: dict[str, Callable[..., str]] = {
    ".txt": render_txt, ".md": render_md, ".html": render_html, ".svg": render_svg, ".json": render_json,
    ".mmd": render_mmd, ".puml": render_puml, ".diagram.svg": render_diagram_svg,
}
assert tuple(RENDERERS) == SUFFIXES


def format_of(path: Path | str) -> str:
    """The format a file name asks for: its extension, or ".diagram.svg" for ``name.diagram.svg``."""
    name = Path(path).name.lower()
    return ".diagram.svg" if name.endswith(".diagram.svg") else Path(name).suffix


def part_path(path: Path, number: int) -> Path:
    """Where part ``number`` (1 for the first) of a lesson goes: ``path`` itself, then ``name-part2.md``,
    ``name-part2.diagram.svg``, ..."""
    if number <= 1:
        return path
    suffix = format_of(path)
    stem = path.name[: len(path.name) - len(suffix)] if suffix and path.name.lower().endswith(suffix) else path.stem
    return path.with_name(f"{stem}-part{number}{path.name[len(stem):]}")


def render(recording: Recording, suffix: str, *, style: str = "textbook", show_secrets: bool = False,
           theme: str | None = None) -> str:
    """The export in the format of ``suffix`` (".md", ".diagram.svg", ...); ``ExportError`` for an unknown one.
    Diagrams mask secrets whatever ``show_secrets`` says: a figure is for showing. A .pcapng is not text:
    ``export_pcapng`` writes it."""
    if suffix.lower() == ".pcapng":
        raise ExportError("a .pcapng is binary: it is written to a file, not rendered as text")
    renderer = RENDERERS.get(suffix.lower())
    if renderer is None:
        raise ExportError(f"smtpstep writes transcripts as {', '.join(SUFFIXES)} files, not “{suffix}”")
    try:
        return renderer(recording, style=style, show_secrets=show_secrets, theme=theme)
    except RecordingError as error:
        raise ExportError(str(error)) from None


def export(recording: Recording, path: Path, *, style: str = "textbook", show_secrets: bool = False,
           theme: str | None = None, keylog: Path | str | None = None) -> str:
    """Write the export that ``path``'s extension names; ``ExportError`` in plain words on failure.
    Returns a sentence to tell the user, or "" (a .pcapng says whether it holds the TLS keys)."""
    path = Path(path)
    if format_of(path) == ".pcapng":
        from smtpstep.app.output.capture import export_pcapng

        return export_pcapng(recording, path, keylog=keylog, show_secrets=show_secrets)
    text = render(recording, format_of(path), style=style, show_secrets=show_secrets, theme=theme)
    try:
        path.write_text(text, encoding="utf-8", newline="\n")
    except OSError as error:
        raise ExportError(f"{path} cannot be written ({error.strerror or error})") from None
    return ""


# --- Themes ------------------------------------------------------------------------------------------------


def theme_names() -> tuple[str, ...]:
    """The names of smtpstep's themes (imports ``themes``, hence ``textual.theme``)."""
    from smtpstep.themes import THEMES

    return tuple(theme.name for theme in THEMES)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _when(created: str) -> str:
    """An ISO date as "2026-11-28 09:00 UTC" (or as given, if it is no ISO date)."""
    import datetime

    try:
        moment = datetime.datetime.fromisoformat(created)
    except ValueError:
        return created
    offset = moment.utcoffset()
    if offset is None:
        return f"{moment:%Y-%m-%d %H:%M}"
    return f"{moment:%Y-%m-%d %H:%M} UTC" if not offset else f"{moment:%Y-%m-%d %H:%M %z}"


def plural(count: int, word: str) -> str:
    """"1 step", "12 steps"."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def md_escape(text: str) -> str:
    """Text that Markdown shows as written (``<CRLF>`` would otherwise vanish as an HTML tag)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", text)
    return max((len(run) for run in runs), default=0)


def as_sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
