"""Sequence diagram exports: Mermaid (``.mmd``), PlantUML (``.puml``) and a standalone SVG (``.diagram.svg``).

Each draws one ``Diagram`` (``session/diagram.py``): the lifelines, one arrow per command and per reply
in order, the notes, and the part of the session inside TLS as a labelled block (Mermaid: a shaded
``rect`` opened by a "TLS" note; PlantUML: a ``group`` named "TLS"; SVG: a shaded band with a bracket
and the word "TLS" beside it), so that TLS never rests on colour alone.

Rules:
- every text comes bounded and escaped from the model; here it is escaped once more for the syntax it
  goes into (Mermaid entity codes, PlantUML's ``<U+hhhh>`` for everything but letters, digits and a few
  safe marks, XML escapes in the SVG), so that no server text can end a statement, open a note or
  inject markup;
- the SVG is a drawing with real lines and text (for slides and LaTeX), not a terminal grid: DejaVu Sans
  Mono, embedded as a subset of the characters it draws, so it looks the same in every viewer, and with
  the generic ``monospace`` after it;
- the output is a pure function of the diagram (no dates, no random ids): two runs give the same bytes.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape, quoteattr

from smtpstep.app.output.font import ADVANCE, FONT_STACK, font_face_css
from smtpstep.app.session.diagram import SERVER, Arrow, Diagram, Item, Note

DIAGRAM_SUFFIXES = (".mmd", ".puml", ".diagram.svg")
"""The diagram formats, by file extension."""

_IDS = {"client": "C", "relay": "R", "server": "S", "mx": "M"}
"""Short participant ids for Mermaid and PlantUML."""


def tls_blocks(items: Iterable[Item]) -> Iterator[tuple[bool, list[Item]]]:
    """The items in runs: (inside TLS, the run), in order."""
    run: list[Item] = []
    inside = False
    for item in items:
        if item.tls != inside and run:
            yield inside, run
            run = []
        inside = item.tls
        run.append(item)
    if run:
        yield inside, run


def _label(item: Item, first: bool) -> str:
    """An item's words; the first item of each step carries the step's number."""
    return f"{item.step}. {item.text}" if first else item.text


def _numbered(diagram: Diagram) -> Iterator[tuple[Item, bool]]:
    """Each item, and whether it is the first of its step."""
    seen: set[int] = set()
    for item in diagram.items:
        first = item.step not in seen
        seen.add(item.step)
        yield item, first


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


# --- Mermaid ------------------------------------------------------------------------------------------


_MERMAID_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,@()/+=-*_'!?$^~[]·…“”")


def mermaid_text(text: str) -> str:
    """Text for a Mermaid message or note: anything but letters, digits and a few marks as an entity code
    (``#60;`` for "<"), so that nothing ends the statement (``;``), opens markup (``<br>``) or a comment."""
    return "".join(ch if ch in _MERMAID_SAFE or (ord(ch) > 127 and ch.isprintable() and not ch.isspace())
                   else f"#{ord(ch)};" for ch in text)


def render_mmd(diagram: Diagram) -> str:
    """A Mermaid ``sequenceDiagram``; the TLS part is a shaded ``rect`` that opens with a "TLS" note."""
    ids = {line.key: _IDS[line.key] for line in diagram.lifelines}
    # The client's TLS spans client to server; the server's own hop to the MX (a lane of its own) is not in it.
    ends = f"{ids[diagram.lifelines[0].key]},{ids.get(SERVER, ids[diagram.lifelines[-1].key])}"
    out = [f"%% {mermaid_text(diagram.title)} (smtpstep)", "sequenceDiagram"]
    out += [f"    participant {ids[line.key]} as {mermaid_text(line.title)}" for line in diagram.lifelines]
    firsts = dict((id(item), first) for item, first in _numbered(diagram))
    for inside, run in tls_blocks(diagram.items):
        indent = "    "
        if inside:
            out += ["    rect rgb(226, 236, 250)", f"        Note over {ends}: TLS: encrypted from here to the end of this block"]
            indent = "        "
            if isinstance(run[0], Note) and run[0].kind == "handshake":  # the opening note says it
                note = run.pop(0)
                out[-1] = (f"        Note over {ends}: {mermaid_text(_label(note, firsts[id(note)]))}: encrypted from "
                           "here to the end of this block")
        for item in run:
            if isinstance(item, Arrow):
                arrow = "-->>" if item.reply else "->>"
                out.append(f"{indent}{ids[item.source]}{arrow}{ids[item.target]}: "
                           f"{mermaid_text(_label(item, firsts[id(item)]))}")
            else:
                over = ",".join(ids[key] for key in (item.over[0], item.over[-1]) if key in ids)
                over = over if item.over[0] != item.over[-1] else ids[item.over[0]]
                lines = _wrap(_label(item, firsts[id(item)]), 48)
                out.append(f"{indent}Note over {over}: " + "<br/>".join(mermaid_text(line) for line in lines))
        if inside:
            out.append("    end")
    return "\n".join(out) + "\n"


# --- PlantUML -----------------------------------------------------------------------------------------


_PLANTUML_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,()+=:;'!?$·…“”")


def plantuml_text(text: str) -> str:
    """Text for a PlantUML message or note: anything but letters, digits and a few marks as ``<U+hhhh>``,
    so that no creole markup (``**``, ``//``, ``--``, ``<b>``), line break (``\\n``) or link (``[[``)
    comes from it."""
    return "".join(ch if ch in _PLANTUML_SAFE or (ord(ch) > 127 and ch.isprintable() and not ch.isspace())
                   else f"<U+{ord(ch):04X}>" for ch in text)


def render_puml(diagram: Diagram) -> str:
    """A PlantUML sequence diagram; the TLS part is a ``group`` named "TLS"."""
    ids = {line.key: _IDS[line.key] for line in diagram.lifelines}
    out = ["@startuml", f"title {plantuml_text(diagram.title)}", "skinparam defaultFontName DejaVu Sans Mono"]
    out += [f'participant "{plantuml_text(line.title)}" as {ids[line.key]}' for line in diagram.lifelines]
    firsts = dict((id(item), first) for item, first in _numbered(diagram))
    for inside, run in tls_blocks(diagram.items):
        indent = ""
        if inside:
            out.append("group TLS (encrypted)")
            indent = "  "
        for item in run:
            if isinstance(item, Arrow):
                arrow = "-->" if item.reply else "->"
                out.append(f"{indent}{ids[item.source]} {arrow} {ids[item.target]} : "
                           f"{plantuml_text(_label(item, firsts[id(item)]))}")
            else:
                over = ", ".join(ids[key] for key in dict.fromkeys((item.over[0], item.over[-1])))
                out.append(f"{indent}note over {over}")
                out += [f"{indent}  {plantuml_text(line)}" for line in _wrap(_label(item, firsts[id(item)]), 48)]
                out.append(f"{indent}end note")
        if inside:
            out.append("end")
    out.append("@enduml")
    return "\n".join(out) + "\n"


# --- SVG ----------------------------------------------------------------------------------------------

FONT_SIZE = 14.0
CHAR = FONT_SIZE * ADVANCE
"""The width of one character cell at ``FONT_SIZE`` (DejaVu Sans Mono: every glyph the same)."""
ROW = 32.0
"""Height of one arrow: its words above, the line below."""
LINE = 18.0
"""Height of one line of a note."""
MARGIN = 24.0
GUTTER = 88.0
"""Left of the first lifeline: step numbers and the TLS bracket."""
HEAD = 36.0
"""Height of a lifeline's title box."""
INK, MUTED, PAPER, NOTE_FILL, TLS_FILL, TLS_INK = "#000000", "#4d4d4d", "#ffffff", "#fff7d6", "#e2ecfa", "#1f4e9c"


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """How wide ``text`` is drawn in DejaVu Sans Mono at ``size`` (wide East Asian characters take two cells)."""
    cells = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return cells * size * ADVANCE


def _n(value: float) -> str:
    return format(round(value, 2), "g")


class _Layout:
    """Where each lifeline stands: far enough apart for the widest words between neighbours."""

    def __init__(self, diagram: Diagram) -> None:
        keys = [line.key for line in diagram.lifelines]
        self.index = {key: i for i, key in enumerate(keys)}
        gaps = [0.0] * (len(keys) - 1)
        for item in diagram.items:
            if isinstance(item, Arrow):
                a, b = sorted((self.index[item.source], self.index[item.target]))
                need = text_width(item.text) + 48
                for gap in range(a, b):
                    gaps[gap] = max(gaps[gap], need / (b - a))
        titles = [text_width(line.title, FONT_SIZE) + 32 for line in diagram.lifelines]
        self.x = [GUTTER + titles[0] / 2]
        for i, gap in enumerate(gaps):
            self.x.append(self.x[-1] + max(gap, 200.0, (titles[i] + titles[i + 1]) / 2 + 24))
        self.titles = titles
        self.width = self.x[-1] + titles[-1] / 2 + MARGIN
        self.width = max(self.width, text_width(diagram.title, 16) + 2 * MARGIN)

    def at(self, key: str) -> float:
        return self.x[self.index[key]]


def _note_box(layout: _Layout, note: Note) -> tuple[float, float, list[str]]:
    """The left edge, width and wrapped lines of a note."""
    xs = [layout.at(key) for key in note.over if key in layout.index]
    left, right = min(xs), max(xs)
    if left == right:  # over one lifeline: as wide as its neighbourhood allows
        room = min([abs(x - left) for x in layout.x if x != left] or [240.0]) * 1.4
        left, right = left - room / 2, left + room / 2
    else:
        left, right = left - 24, right + 24
    chars = max(12, int((right - left - 16) / CHAR))
    lines = _wrap(note.text, chars)
    width = min(right - left, max(text_width(line) for line in lines) + 16)
    centre = (left + right) / 2
    left = max(GUTTER - 20, min(centre - width / 2, layout.width - MARGIN - width))
    return left, width, lines


def render_diagram_svg(diagram: Diagram) -> str:
    """A standalone SVG drawing of the diagram, with the DejaVu Sans Mono subset it needs embedded."""
    layout = _Layout(diagram)
    firsts = dict((id(item), first) for item, first in _numbered(diagram))
    body: list[str] = []
    drawn_chars: dict[str, set[str]] = {"regular": set(), "bold": set()}

    def text(x: float, y: float, words: str, *, anchor: str = "start", bold: bool = False, fill: str = INK,
             size: float = FONT_SIZE, extra: str = "") -> None:
        drawn_chars["bold" if bold else "regular"].update(words)
        weight = ' font-weight="bold"' if bold else ""
        size_attr = f' font-size="{_n(size)}"' if size != FONT_SIZE else ""
        body.append(f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{weight}{size_attr} fill="{fill}"'
                    f'{extra}>{escape(words)}</text>')

    title_y = MARGIN + 16
    top = title_y + 18
    text(MARGIN, title_y, diagram.title, bold=True, size=16)
    for i, line in enumerate(diagram.lifelines):
        x, w = layout.x[i], layout.titles[i]
        body.append(f'<rect x="{_n(x - w / 2)}" y="{_n(top)}" width="{_n(w)}" height="{_n(HEAD)}" rx="4" '
                    f'fill="{PAPER}" stroke="{INK}" stroke-width="1.5"/>')
        text(x, top + HEAD / 2 + 5, line.title, anchor="middle", bold=True)
    y = top + HEAD + 16
    lifeline_top = top + HEAD
    bands: list[tuple[float, float]] = []
    band_start: float | None = None
    for item in diagram.items:
        if item.tls and band_start is None:  # a band starts below the arrow before it, and ends below its last
            band_start = y + 1
        elif not item.tls and band_start is not None:
            bands.append((band_start, y + 1))
            band_start = None
        if firsts[id(item)]:  # the step's number in the margin, level with its first arrow or note
            text(GUTTER - 56, y + (ROW - 4 if isinstance(item, Arrow) else 26), str(item.step), anchor="end",
                 fill=MUTED)
        if isinstance(item, Arrow):
            y += ROW
            x1, x2 = layout.at(item.source), layout.at(item.target)
            words = item.text
            colour = MUTED if item.relayed else INK
            body.append(f'<g class="arrow {item.kind}" data-step="{item.step}" data-from="{item.source}" '
                        f'data-to="{item.target}" data-y="{_n(y)}">')
            text((x1 + x2) / 2, y - 8, words, anchor="middle", fill=colour)
            head = -10 if x2 > x1 else 10
            dash = ' stroke-dasharray="7 5"' if item.reply else ""
            body.append(f'<line x1="{_n(x1)}" y1="{_n(y)}" x2="{_n(x2 + head)}" y2="{_n(y)}" stroke="{colour}" '
                        f'stroke-width="1.5"{dash}/>')
            body.append(f'<path d="M{_n(x2)} {_n(y)}L{_n(x2 + head)} {_n(y - 5)}L{_n(x2 + head)} {_n(y + 5)}Z" '
                        f'fill="{colour}"/>')
            body.append("</g>")
            y += 6
        else:
            left, width, lines = _note_box(layout, item)
            height = len(lines) * LINE + 10
            y += 8
            fill = TLS_FILL if item.kind == "handshake" else NOTE_FILL
            body.append(f'<g class="note {item.kind}" data-step="{item.step}" data-over="{" ".join(item.over)}" '
                        f'data-y="{_n(y)}">')
            body.append(f'<rect x="{_n(left)}" y="{_n(y)}" width="{_n(width)}" height="{_n(height)}" '
                        f'fill="{fill}" stroke="{MUTED}" stroke-width="1"/>')
            for number, line in enumerate(lines):
                text(left + 8, y + 5 + (number + 1) * LINE - 5, line, bold=item.kind in ("handshake", "failure"))
            body.append("</g>")
            y += height + 4
    y += 14
    if band_start is not None:
        bands.append((band_start, y))
    band_svg = []
    for start, end in bands:
        band_svg.append(f'<g class="tls" data-top="{_n(start)}" data-bottom="{_n(end)}">')
        band_svg.append(f'<rect x="{_n(GUTTER - 40)}" y="{_n(start)}" width="{_n(layout.width - GUTTER + 40 - 8)}" '
                        f'height="{_n(end - start)}" fill="{TLS_FILL}"/>')
        x = GUTTER - 40
        band_svg.append(f'<path d="M{_n(x + 8)} {_n(start)}H{_n(x)}V{_n(end)}H{_n(x + 8)}" fill="none" '
                        f'stroke="{TLS_INK}" stroke-width="3"/>')
        middle = (start + end) / 2
        label = "TLS" if end - start < 120 else "inside TLS"
        drawn_chars["bold"].update(label)
        band_svg.append(f'<text x="{_n(x + 20)}" y="{_n(middle)}" text-anchor="middle" font-weight="bold" '
                        f'fill="{TLS_INK}" transform="rotate(-90 {_n(x + 20)} {_n(middle)})">{label}</text>')
        band_svg.append("</g>")
    lifelines = [f'<line x1="{_n(x)}" y1="{_n(lifeline_top)}" x2="{_n(x)}" y2="{_n(y)}" stroke="{MUTED}" '
                 f'stroke-width="1.5"/>' for x in layout.x]
    height = math.ceil(y + MARGIN)
    width = math.ceil(layout.width)  # whole pixels: every renderer makes the same size of picture
    faces = "\n".join(css for css in (font_face_css("regular", "".join(drawn_chars["regular"])),
                                      font_face_css("bold", "".join(drawn_chars["bold"]))) if css)
    title = escape(diagram.title)
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(diagram.title)} '
        f'font-family={quoteattr(FONT_STACK)} font-size="{_n(FONT_SIZE)}">',
        f"<title>{title}</title>",
        "<!-- Drawn by smtpstep. Embedded font: a DejaVu Sans Mono subset (Bitstream Vera licence; DejaVu changes "
        "are in the public domain; the licence text is in the font's name table). -->",
        "<style>",
        faces,
        "text { font-variant-ligatures: none; font-feature-settings: \"liga\" 0, \"calt\" 0; }",
        "</style>",
        f'<rect width="100%" height="100%" fill="{PAPER}"/>',
        *band_svg,
        *lifelines,
        *body,
        "</svg>",
    ]) + "\n"
