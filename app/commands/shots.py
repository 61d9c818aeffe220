"""``smtpstep shots``: a whole session run in the terminal app, headless, with one screenshot per step.

Writes ``01-connect.svg``, ``02-greeting.svg``, ... (named after each step's catalog key), the
session's sequence diagram as ``sequence.mmd``, ``sequence.puml`` and ``sequence.diagram.svg`` (one
set per lesson part: ``sequence-part2.mmd``, ...) and an ``index.md`` that lists them with their
captions and explanations (and, with ``--lesson``, the lesson's narration, every part in turn), for
lecture notes; with ``--png`` a PNG beside each SVG, for slide software that takes no SVG.

Rules:
- the same bytes from run to run on one machine: a fixed Date and Message-ID, no step times, the
  server shown by a name (``DISPLAY_NAME``) and never by its port, and the built-in server (started
  here, also for a lesson) with a fixed clock for its Received field and fixed queue IDs, in a
  Maildir of its own that is removed after; no screen shows a certificate (its serial and key change
  every run); the SVG's class names follow from the picture;
- every SVG is captured without toasts, tooltips or scrollbars (``saving.clean_screenshot``) and goes
  through ``svg.print_svg``: the bundled font embedded, borders drawn as lines, ligatures off, so it
  renders the same offline in any viewer and ``..`` stays two dots;
- secrets never appear in a screenshot (the wire log's reveal is never used); ``--show-secrets``
  affects only a ``--transcript`` written alongside;
- Textual is imported only when shots are taken; a PNG converter only when ``--png`` asks for one.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smtpstep.app.session.options import settings_from_args
from smtpstep.app.session.settings import UsageError

if TYPE_CHECKING:
    from smtpstep.app.session.recording import Recording
    from smtpstep.app.session.settings import SessionSettings
    from smtpstep.app.session.stepper import SessionView
    from smtpstep.app.stepper_app import SmtpStepApp
    from smtpstep.protocol.server.process import ServerProcess
    from smtpstep.protocol.server.server import LocalServer

NOW = datetime.datetime(2026, 1, 12, 9, 0, tzinfo=datetime.timezone.utc)
"""The Date of the message in every set of shots (lecture notes should not change with the day)."""

MESSAGE_ID = "<lecture-notes@client.smtpstep.test>"

FIXED_PORTS = {"plain_port": 12525, "submission_port": 12587, "submissions_port": 12465}
"""Ports the built-in server tries first (the screenshots name it ``DISPLAY_NAME`` whatever port it gets)."""

DISPLAY_NAME = "localhost"
"""What the screenshots call the built-in server (and a lesson's relay, also on loopback), in place of
an address whose port may differ from run to run."""

DIAGRAM_NAME = "sequence"
"""The sequence diagram's file name, before ``.mmd``, ``.puml`` and ``.diagram.svg``."""

DEFAULT_SIZE = (100, 30)
DEFAULT_THEME = "print"

SETTLE_MARGIN = 30.0
"""Seconds to wait for a step's screen beyond the step's own timeout (RFC 5321's 10 minutes at most)."""

Prepare = Callable[["SmtpStepApp"], Awaitable[None]]
"""Called once the app is ready, before the first step (e.g. to edit the queue or switch the server's
scenario); ``--lesson`` needs none: the lesson comes in the settings, and the app runs it."""


class ShotsError(Exception):
    """The shots could not be taken or converted; ``str(error)`` says why in one plain sentence."""


@dataclass
class Shots:
    """What ``take_shots`` wrote."""

    folder: Path
    svgs: list[Path] = field(default_factory=list)
    pngs: list[Path] = field(default_factory=list)
    index: Path | None = None
    diagrams: list[Path] = field(default_factory=list)
    """The sequence diagrams: .mmd, .puml and .diagram.svg for each part."""
    captions: list[str] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    """The sessions the screenshots show: one, or one per part of a lesson (for ``--transcript``)."""


@dataclass(frozen=True)
class Entry:
    """One screenshot: its file name without the extension, its caption and the view it shows."""

    name: str
    caption: str
    view: SessionView
    part: int = 0
    """The lesson part (0 without a lesson)."""


# --- Command line -----------------------------------------------------------------------------------


def add_shots_options(parser: argparse.ArgumentParser) -> None:
    """``smtpstep shots``' own options (the session options are added by the caller)."""
    notes = parser.add_argument_group("screenshots")
    notes.add_argument("--out", metavar="DIR", required=True, type=Path,
                       help="the folder for the SVG files and index.md (made if missing)")
    notes.add_argument("--theme", metavar="NAME", default=DEFAULT_THEME,
                       help=f"the colour theme of the screenshots (default {DEFAULT_THEME}: white paper, black text)")
    notes.add_argument("--size", metavar="COLSxROWS", default="x".join(map(str, DEFAULT_SIZE)), type=_size,
                       help="the terminal size to draw, in characters (default 100x30, for a projector)")
    notes.add_argument("--png", action="store_true",
                       help="also write a PNG of each screenshot (needs `pip install 'smtpstep[png]'` or "
                            "rsvg-convert)")


def _size(text: str) -> tuple[int, int]:
    cols, x, rows = text.lower().partition("x")
    if not x or not cols.isdigit() or not rows.isdigit():
        raise argparse.ArgumentTypeError(f"“{text}” is not a size such as 100x30 (columns x rows)")
    size = int(cols), int(rows)
    if not (60 <= size[0] <= 400 and 20 <= size[1] <= 200):
        raise argparse.ArgumentTypeError(f"{text}: the size must be 60x20 to 400x200 characters")
    return size


def run_shots(args: argparse.Namespace) -> int:
    """``smtpstep shots``: check the options, take the shots, say where they are. Returns the exit code."""
    settings = settings_from_args(args)
    from smtpstep.app.output.exports import ExportError, plural, theme_names

    names = theme_names()
    if args.theme not in names:
        raise UsageError(f"--theme {args.theme}: there is no such theme; smtpstep has {', '.join(names)}")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder for the screenshots")
    converter = png_converter() if args.png else None
    if args.png and converter is None:
        raise UsageError("--png needs a converter: `pip install 'smtpstep[png]'` (cairosvg) or rsvg-convert "
                         "(Debian: apt install librsvg2-bin)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {args.out} cannot be made ({error.strerror or error})") from None
    try:
        shots = asyncio.run(take_shots(settings, out, theme=args.theme, size=args.size, png=converter,
                                       progress=lambda line: print(line, flush=True)))
    except ShotsError as error:
        print(f"smtpstep: {error}", file=sys.stderr, flush=True)
        return 1
    if settings.transcript is not None:
        from smtpstep.app.output.exports import export, part_path

        for number, recording in enumerate(shots.recordings, 1):  # a lesson's later parts: name-part2.md, ...
            where = part_path(settings.transcript, number)
            try:
                export(recording, where, style=settings.style, show_secrets=settings.show_secrets, theme=args.theme)
            except ExportError as error:
                raise UsageError(str(error)) from None
    made = plural(len(shots.svgs), "screenshot") + (f", {plural(len(shots.pngs), 'PNG file')}" if shots.pngs else "")
    print(f"{made} and index.md in {out}", flush=True)
    return 0


# --- Taking the shots -------------------------------------------------------------------------------


async def take_shots(
    settings: SessionSettings,
    out: Path,
    *,
    theme: str = DEFAULT_THEME,
    size: tuple[int, int] = DEFAULT_SIZE,
    png: str | None = None,
    server: LocalServer | ServerProcess | None = None,
    prepare: Prepare | None = None,
    now: datetime.datetime = NOW,
    message_id: str = MESSAGE_ID,
    progress: Callable[[str], None] | None = None,
) -> Shots:
    """Run the session in the app at ``size`` and save a screenshot after each step into ``out``.

    ``png`` is a converter from ``png_converter()``. With the built-in server and no ``server``, one
    is started for the shots in a process of its own (in the lesson's scenario, on ``FIXED_PORTS`` when free,
    with ``now`` as its clock, fixed queue IDs and a Maildir of its own) and stopped after. Raises
    ``ShotsError`` if it cannot start.
    """
    import tempfile

    if settings.display_name is None:
        settings = dataclasses.replace(settings, display_name=DISPLAY_NAME)
    own = None
    with tempfile.TemporaryDirectory(prefix="smtpstep-shots-") as scratch:
        if settings.builtin and server is None:
            scenario = settings.lesson.scenario if settings.lesson is not None else "normal"
            own = server = await _start_server(scenario, maildir=Path(scratch) / "maildir", now=now)
        try:
            return await _shoot(settings, Path(out), theme=theme, size=size, png=png, server=server,
                                prepare=prepare, now=now, message_id=message_id, progress=progress)
        finally:
            if own is not None:
                await asyncio.get_running_loop().run_in_executor(None, own.stop)


async def _start_server(scenario: str = "normal", *, maildir: Path | None = None,
                        now: datetime.datetime | None = None) -> ServerProcess:
    from smtpstep.app.config import state_dir
    from smtpstep.protocol.server.process import ServerProcess, ServerProcessError

    loop = asyncio.get_running_loop()
    # The same every run: the Received field's date, and the queue IDs the server reports.
    options = {"scenario": scenario, "maildir": maildir, "fixed_clock": now, "log_path": state_dir() / "server.log"}
    try:
        server = ServerProcess(**options, **FIXED_PORTS)
        await loop.run_in_executor(None, server.start)
    except ServerProcessError as error:
        if not error.port_in_use:
            raise ShotsError(f"the built-in server could not start: {error}") from None
        server = ServerProcess(**options)  # a port is taken: any free ones will do
        try:
            await loop.run_in_executor(None, server.start)
        except ServerProcessError as again:
            raise ShotsError(f"the built-in server could not start: {again}") from None
    return server


async def _shoot(settings: SessionSettings, out: Path, *, theme: str, size: tuple[int, int], png: str | None,
                 server: LocalServer | ServerProcess | None, prepare: Prepare | None, now: datetime.datetime,
                 message_id: str, progress: Callable[[str], None] | None) -> Shots:
    from smtpstep.app.output.exports import step_caption, step_slug
    from smtpstep.app.saving import clean_screenshot
    from smtpstep.app.session.diagram import lesson_meta
    from smtpstep.app.session.recording import Recording, new_meta
    from smtpstep.app.session.stepper import MAX_STEPS, REFUSED_BEFORE_SENDING
    from smtpstep.app.stepper_app import SmtpStepApp

    lesson = settings.lesson
    parts = len(lesson.parts) if lesson is not None else 1
    app = SmtpStepApp(settings, theme=theme, now=now, message_id=message_id, timings=False, server=server,
                      screenshot_dir=out)
    step_wait = (settings.timeout or 600.0) + SETTLE_MARGIN
    taken: list[tuple[int, SessionView, str]] = []
    """(part, view after the step, SVG) for every step."""
    recordings: list[Recording] = []
    async with app.run_test(size=size, notifications=False, tooltips=False) as pilot:
        if app.stepper is None:  # the start is a StepFinished too, once the stepper exists
            await _settle(pilot, app, None, step_wait)
        if settings.style != "textbook":
            app.wire_log.style_name = settings.style
        if prepare is not None:
            await prepare(app)
        for part in range(parts):
            if part:  # the step key moves a finished lesson part on to the next, as for a person
                await _settle(pilot, app, app.run_action("step"), step_wait)
            stepper = app.stepper
            assert stepper is not None
            views = [stepper.view()]
            while stepper.head is not None and len(views) <= MAX_STEPS:
                if stepper.check_head() is not None:
                    break  # a person would have to decide whether to force it
                await _settle(pilot, app, app.run_action("step"), step_wait)
                view = stepper.view(after_step=True)
                views.append(view)
                taken.append((part, view, await clean_screenshot(app, title=f"smtpstep — step {view.steps_done}")))
                result = view.last
                if result is not None and result.failure is not None and result.failure.kind in REFUSED_BEFORE_SENDING:
                    break  # the app asks the user now (e.g. consent to AUTH in clear text): the shot shows it
            meta = new_meta(target=app.settings.describe(app.server), security=app.settings.security, created=now)
            if lesson is not None:
                relay = app.lab.relay
                meta.update(lesson_meta(lesson, part, list(relay.tampering) if relay is not None else [],
                                        app.lab.received))
            recordings.append(Recording.from_stepper(stepper, views, meta))
            if stepper.head is not None:
                break  # stopped inside this part: the next one would not follow from it
    shots = Shots(out, recordings=recordings)
    width = max(2, len(str(len(taken))))
    entries: list[Entry] = []
    for number, (part, view, svg) in enumerate(taken, 1):
        name = f"{number:0{width}d}-{step_slug(view)}"
        caption = step_caption(view, recordings[part].steps, view.steps_done)
        path = out / f"{name}.svg"
        path.write_text(svg, encoding="utf-8")
        shots.svgs.append(path)
        if png is not None:
            shots.pngs.append(to_png(path, path.with_suffix(".png"), png))
        shots.captions.append(caption)
        entries.append(Entry(name, caption, view, part))
        if progress is not None:
            progress(f"{path.name}  {caption}")
    shots.diagrams = write_diagrams(recordings, out)
    if progress is not None:
        progress(f"{', '.join(path.name for path in shots.diagrams)}  the sequence diagram")
    shots.index = out / "index.md"
    shots.index.write_text(index_md(settings, recordings, entries, theme=theme, size=size, png=bool(shots.pngs)),
                           encoding="utf-8")
    return shots


def write_diagrams(recordings: list[Recording], out: Path) -> list[Path]:
    """The sequence diagram of each recording (each lesson part) as .mmd, .puml and .diagram.svg in ``out``."""
    from smtpstep.app.output.exports import export, part_path

    written = []
    for number, recording in enumerate(recordings, 1):
        for suffix in (".mmd", ".puml", ".diagram.svg"):
            path = part_path(out / f"{DIAGRAM_NAME}{suffix}", number)
            export(recording, path)
            written.append(path)
    return written


async def _settle(pilot: Any, app: SmtpStepApp, cause: Awaitable[object] | None, timeout: float) -> None:
    """Start ``cause`` (the step key's action), wait for the app's next StepFinished, then for the screen."""
    try:
        await asyncio.wait_for(app.next_step_finished(cause), timeout)
    except TimeoutError:
        raise ShotsError(f"the app did not finish a step within {timeout:g} s; no screenshots were written") from None
    await pilot.pause()


# --- index.md ---------------------------------------------------------------------------------------


def index_md(settings: SessionSettings, recordings: list[Recording], entries: list[Entry], *, theme: str,
             size: tuple[int, int], png: bool) -> str:
    """The list of screenshots with their captions, the lesson's words and what the explanation pane said."""
    from smtpstep.app.output.exports import as_sentence, md_escape, plural
    from smtpstep.app.session.lesson_view import lesson_intro, lesson_narration
    from smtpstep.app.session.narration import narrate

    lesson = settings.lesson
    target = str(recordings[0].meta.get("target") or "an SMTP server") if recordings else "an SMTP server"
    title = f"Lesson {lesson.name}: {lesson.title}" if lesson is not None else f"smtpstep: {target}"
    out = [
        f"# {md_escape(title)}",
        "",
        f"{plural(len(entries), 'screenshot')}, one after each step, drawn at {size[0]}×{size[1]} characters in "
        f"the {md_escape(theme)} theme by `smtpstep shots`." + (" Each SVG has a PNG beside it." if png else ""),
        "",
    ]
    part = -1
    for entry in entries:
        if lesson is not None and entry.part != part:
            part = entry.part
            if part == 0:  # the lesson's title is the heading; its goal comes first
                for paragraph in lesson.goal.strip().split("\n\n"):
                    out += [md_escape(" ".join(paragraph.split())), ""]
            for paragraph in lesson_intro(lesson, part, first=False):
                out += [f"**{md_escape(paragraph)}**" if paragraph.startswith("Part ") else md_escape(paragraph), ""]
        out += [f"## {md_escape(entry.caption)}", "", f"![{md_escape(entry.caption)}]({entry.name}.svg)", ""]
        said = lesson_narration(lesson, entry.view, entry.part) if lesson is not None else None
        if said:
            out += [f"> {md_escape(' '.join(said.split()))}", ""]
        for block in narrate(entry.view):
            if block.kind in ("halt", "error", "warning", "step", "reply"):
                rfc = f" *({md_escape(block.rfc)})*" if block.rfc else ""
                text = f" {md_escape(block.text)}" if block.text else ""
                out += [f"**{md_escape(as_sentence(block.title))}**{text}{rfc}", ""]
    if recordings:
        from smtpstep.app.output.exports import part_path

        out += ["## The sequence diagram", "", "The session as a ladder diagram, one arrow per command and per reply; "
                "also as Mermaid (`.mmd`) and PlantUML (`.puml`) source beside it.", ""]
        for number in range(1, len(recordings) + 1):
            name = part_path(Path(f"{DIAGRAM_NAME}.diagram.svg"), number).name
            words = f"The sequence diagram, part {number}" if len(recordings) > 1 else "The sequence diagram"
            out += [f"![{words}]({name})", ""]
    return "\n".join(out).rstrip("\n") + "\n"


# --- PNG --------------------------------------------------------------------------------------------


def png_converter() -> str | None:
    """The path of rsvg-convert, else "cairosvg" when the ``png`` extra is installed, else None.

    rsvg-convert first: a separate program, so it can be given the bundled font alone (``to_png``), and
    faster; cairosvg draws the same picture from the installed DejaVu Sans Mono.
    """
    found = shutil.which("rsvg-convert")
    if found:
        return found
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError):  # OSError: the package is there but the cairo library is not
        return None
    return "cairosvg"


def to_png(svg: Path, png: Path, converter: str, *, zoom: float = 2.0) -> Path:
    """Convert one SVG to PNG at ``zoom`` times its size (sharp on a projector); returns ``png``."""
    if converter == "cairosvg":
        import cairosvg

        try:
            cairosvg.svg2png(url=str(svg), write_to=str(png), scale=zoom)
        except Exception as error:  # noqa: BLE001 - cairosvg raises whatever its parsers raise
            raise ShotsError(f"cairosvg could not convert {svg.name} to PNG ({error})") from None
        return png
    from smtpstep.app.config import state_dir
    from smtpstep.app.output.font import fontconfig_env

    try:
        # Only the bundled faces, settings inline: the same PNG on a machine without DejaVu Sans Mono.
        env = fontconfig_env(state_dir() / "fontconfig")
    except OSError:
        env = None  # the installed fonts will do
    try:
        done = subprocess.run([converter, "--zoom", str(zoom), "--output", str(png), str(svg)],
                              capture_output=True, text=True, timeout=120, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ShotsError(f"rsvg-convert could not convert {svg.name} to PNG ({error})") from None
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[:200]
        raise ShotsError(f"rsvg-convert could not convert {svg.name} to PNG ({said or 'no reason given'})")
    return png
