"""Makes SVG screenshots fit to print: the same picture in every viewer, offline, byte for byte.

Holds ``print_svg``, which takes the SVG of Textual's ``App.export_screenshot()`` (or of Rich's
``Console.export_svg``, the same template) and returns it with:

* box drawing (U+2500-257F) and block elements (U+2580-259F) drawn as filled shapes on the cell grid
  instead of glyphs, touching pieces merged, so that borders are continuous in rsvg-convert, cairosvg
  and Chromium alike (a glyph of DejaVu Sans Mono's "│" is 1.19 em tall, a cell 1.22 em, and Rich clips
  each row to its own height: every renderer showed a gap at each row);
* the web font rules gone, and a subset of the bundled DejaVu Sans Mono faces embedded (``font.py``),
  each with only the characters drawn in it, under the installed font's own family name;
* a font size at which one advance is exactly one cell (rsvg-convert and cairosvg ignore ``textLength``,
  so text at 20 px drifted 0.16 px a character and a caption's right border came loose);
* no run that starts or ends with a no-break space (rsvg-convert drops leading ones and shifts the rest);
* ligatures off (``..`` stays two dots, the dot-stuffing lesson depends on it);
* in italic text, symbols the Oblique faces lack (✓ ✗ ⚠) drawn upright (cairosvg drew empty boxes);
* characters no common monospace font has (🔒 🔓 ⧗ ␍ ␊ ⭘ 🔎) replaced by stand-ins of the same width;
* class names from a hash of the finished picture: the same picture gives the same bytes, two pictures
  inlined in one page never share a class name with other colours.

Also ``screenshot_name`` for the ``s`` key's files. Pure functions: no Textual, no files written.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from smtpstep.app.output.font import ADVANCE, FONT_FILES, FONT_STACK, covers, font_face_css

CHAR_HEIGHT = 20.0
CHAR_WIDTH = 12.2
LINE_HEIGHT = 24.4
"""The cell of Rich's SVG template (``Console.export_svg``)."""

FONT_SIZE = round(CHAR_WIDTH / ADVANCE, 2)
"""20.26 px: DejaVu Sans Mono's advance at this size is one cell (12.197 px), so text stays on the grid in
renderers that ignore ``textLength``."""

STAND_INS = {
    "\U0001F512": "■ ",  # 🔒 LOCK (two cells): BLACK SQUARE and a space
    "\U0001F513": "□ ",  # 🔓 OPEN LOCK: WHITE SQUARE and a space
    "⧗": "◷",  # BLACK HOURGLASS (busy): WHITE CIRCLE WITH UPPER RIGHT QUADRANT, a clock face
    "␍": "⇤",  # SYMBOL FOR CARRIAGE RETURN: LEFTWARDS ARROW TO BAR (back to the margin)
    "␊": "↓",  # SYMBOL FOR LINE FEED: DOWNWARDS ARROW (one line down)
    "⭘": "○",  # HEAVY CIRCLE (Textual's header icon)
    "\U0001F50E": "> ",  # 🔎 (Textual's command palette prompt, two cells)
}
"""Characters that need an emoji font or that DejaVu Sans Mono lacks, and what is drawn instead (same width)."""

EPS = 0.3
"""How far (px) a shape reaches into the next cell: no anti-aliasing seam between two cells."""
LIGHT = CHAR_WIDTH * 0.13
"""A light line's thickness (1.59 px, as DejaVu's light stroke); heavy lines are twice that."""
HEAVY = LIGHT * 2
DOUBLE_GAP = LIGHT * 1.25
"""Distance of each line of a double line from the cell's centre line."""

Rect = tuple[float, float, float, float]

_UID = re.compile(r"\.(terminal-\d+)-matrix")
_RULE = r"\.{uid}-(r\d+) \{{ (.*?) \}}"
_TEXT = (r'<text class="{uid}-(r\d+)" x="([-\d.]+)" y="([-\d.]+)" textLength="([-\d.]+)" '
         r'clip-path="url\(#{uid}-line-(\d+)\)">(.*?)</text>')


@dataclass(frozen=True)
class _Style:
    fill: str
    bold: bool = False
    italic: bool = False
    css: str = ""


@dataclass
class _Run:
    cls: str
    col: int
    row: int
    text: str


@dataclass
class _Doc:
    uid: str
    styles: dict[str, _Style]
    runs: list[_Run]
    new_rules: dict[str, str] = field(default_factory=dict)
    upright: dict[str, str] = field(default_factory=dict)


def _parse(svg: str) -> _Doc:
    found = _UID.search(svg)
    if found is None:
        raise ValueError("not an SVG of Rich's export_svg (no .terminal-<id>-matrix rule)")
    uid = re.escape(found.group(1))
    styles = {}
    for cls, css in re.findall(_RULE.format(uid=uid), svg):
        fill = re.search(r"fill:\s*(#[0-9a-fA-F]{6})", css)
        styles[cls] = _Style(fill.group(1).lower() if fill else "#000000", "font-weight: bold" in css,
                             "font-style: italic" in css, css)
    runs = [_Run(cls, round(float(x) / CHAR_WIDTH), int(line), html.unescape(content))
            for cls, x, _y, _length, line, content in re.findall(_TEXT.format(uid=uid), svg)]
    return _Doc(found.group(1), styles, runs)


@lru_cache(maxsize=4096)
def _cells(ch: str) -> int:
    from rich.cells import get_character_cell_size

    return get_character_cell_size(ch)


def _face(style: _Style | None) -> str:
    bold, italic = style is not None and style.bold, style is not None and style.italic
    return ("bold" if bold else "") + ("italic" if italic else "") or "regular"


def _upright_in_italic(ch: str, bold: bool) -> bool:
    """A character the Oblique face lacks but the upright one has (✓ ✗ ⚠ ✎)."""
    upright, slanted = ("bold", "bolditalic") if bold else ("regular", "italic")
    return ord(ch) not in covers(slanted) and ord(ch) in covers(upright)


# --- Box drawing and block elements as shapes ----------------------------------------------------------


def _rect(x0: float, y0: float, x1: float, y1: float) -> Rect:
    return (round(min(x0, x1), 2), round(min(y0, y1), 2), round(max(x0, x1), 2), round(max(y0, y1), 2))


def _n(value: float) -> str:
    return format(round(value, 2), "g")


def _rect_d(rect: Rect) -> str:
    """Clockwise on screen, as every shape here: overlaps add up under the non-zero rule, never cancel."""
    x0, y0, x1, y1 = rect
    return f"M{_n(x0)} {_n(y0)}H{_n(x1)}V{_n(y1)}H{_n(x0)}Z"


def _polygon(points: list[tuple[float, float]]) -> str:
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))
    if area < 0:
        points = points[::-1]
    return "M" + "L".join(f"{_n(x)} {_n(y)}" for x, y in points) + "Z"


def merge_rects(rects: list[Rect]) -> list[Rect]:
    """Rectangles that continue each other along a row, then along a column, joined into one."""

    def join(items: list[Rect], horizontal: bool) -> list[Rect]:
        out: list[Rect] = []
        for r in sorted(items, key=(lambda r: (r[1], r[3], r[0])) if horizontal else (lambda r: (r[0], r[2], r[1]))):
            if out:
                last = out[-1]
                if horizontal and last[1] == r[1] and last[3] == r[3] and r[0] <= last[2] + 0.01:
                    out[-1] = (last[0], last[1], max(last[2], r[2]), last[3])
                    continue
                if not horizontal and last[0] == r[0] and last[2] == r[2] and r[1] <= last[3] + 0.01:
                    out[-1] = (last[0], last[1], last[2], max(last[3], r[3]))
                    continue
            out.append(r)
        return out

    return join(join(rects, True), False)


_WEIGHTS = {"LIGHT": "light", "HEAVY": "heavy", "DOUBLE": "double", "SINGLE": "light"}
_DIRECTIONS = {"UP": ("up",), "DOWN": ("down",), "LEFT": ("left",), "RIGHT": ("right",),
               "VERTICAL": ("up", "down"), "HORIZONTAL": ("left", "right")}


@lru_cache(maxsize=None)
def _arms(ch: str) -> tuple[tuple[str, str], ...]:
    """(direction, weight) of each arm of a line character, read from its Unicode name."""
    name = unicodedata.name(ch, "")
    if not name.startswith("BOX DRAWINGS ") or any(w in name for w in ("DASH", "ARC", "DIAGONAL")):
        return ()
    words = name[len("BOX DRAWINGS "):].split()
    overall = _WEIGHTS.get(words[0])
    arms: dict[str, str] = {}
    for group in " ".join(words).split(" AND "):
        weights = [_WEIGHTS[w] for w in group.split() if w in _WEIGHTS]
        weight = weights[0] if weights else overall or "light"
        for word in group.split():
            for direction in _DIRECTIONS.get(word, ()):
                arms[direction] = weight
    return tuple(sorted(arms.items()))


def _line_shapes(ch: str, x0: float, y0: float, w: float, h: float) -> list[Rect | str] | None:
    arms = dict(_arms(ch))
    if not arms:
        return None
    cx, cy, x1, y1 = x0 + w / 2, y0 + h / 2, x0 + w, y0 + h
    doubles = {d for d, k in arms.items() if k == "double"}
    if doubles:
        g = DOUBLE_GAP
        if set(arms) == {"left", "right"}:  # ═
            return [_rect(x0 - EPS, cy - g - LIGHT / 2, x1 + EPS, cy - g + LIGHT / 2),
                    _rect(x0 - EPS, cy + g - LIGHT / 2, x1 + EPS, cy + g + LIGHT / 2)]
        if set(arms) == {"up", "down"}:  # ║
            return [_rect(cx - g - LIGHT / 2, y0 - EPS, cx - g + LIGHT / 2, y1 + EPS),
                    _rect(cx + g - LIGHT / 2, y0 - EPS, cx + g + LIGHT / 2, y1 + EPS)]
        if len(arms) == 2 and doubles == set(arms):  # ╔ ╗ ╚ ╝
            sx, sy = (1 if "right" in arms else -1), (1 if "down" in arms else -1)
            ex, ey = (x1 + EPS if sx > 0 else x0 - EPS), (y1 + EPS if sy > 0 else y0 - EPS)
            shapes: list[Rect | str] = []
            for off in (-g, g):
                vx, hy = cx + sx * off, cy + sy * off
                shapes.append(_rect(vx - LIGHT / 2, hy - sy * LIGHT / 2, vx + LIGHT / 2, ey))
                shapes.append(_rect(vx - sx * LIGHT / 2, hy - LIGHT / 2, ex, hy + LIGHT / 2))
            return shapes
        return None  # other double junctions: left to the font (Textual's borders use none)
    thick = {d: (HEAVY if k == "heavy" else LIGHT) for d, k in arms.items()}
    if set(thick) == {"up", "down"} and thick["up"] == thick["down"]:  # │ ┃
        return [_rect(cx - thick["up"] / 2, y0 - EPS, cx + thick["up"] / 2, y1 + EPS)]
    if set(thick) == {"left", "right"} and thick["left"] == thick["right"]:  # ─ ━
        return [_rect(x0 - EPS, cy - thick["left"] / 2, x1 + EPS, cy + thick["left"] / 2)]
    vmax = max(thick.get("up", 0), thick.get("down", 0))
    hmax = max(thick.get("left", 0), thick.get("right", 0))
    out: list[Rect | str] = []
    for direction, t in thick.items():
        if direction == "left":
            out.append(_rect(x0 - EPS, cy - t / 2, cx + vmax / 2, cy + t / 2))
        elif direction == "right":
            out.append(_rect(cx - vmax / 2, cy - t / 2, x1 + EPS, cy + t / 2))
        elif direction == "up":
            out.append(_rect(cx - t / 2, y0 - EPS, cx + t / 2, cy + hmax / 2))
        else:
            out.append(_rect(cx - t / 2, cy - hmax / 2, cx + t / 2, y1 + EPS))
    return out


def _arc_shape(ch: str, x0: float, y0: float, w: float, h: float) -> list[Rect | str]:
    """╭ ╮ ╯ ╰ as a quarter ring of radius half a cell, with straight arms to the cell's edges."""
    sx, sy = {"╭": (1, 1), "╮": (-1, 1), "╯": (-1, -1), "╰": (1, -1)}[ch]
    cx, cy = x0 + w / 2, y0 + h / 2
    t, r = LIGHT, min(w, h) / 2
    ex, ey = w / 2 + EPS, h / 2 + EPS

    def p(u: float, v: float) -> str:
        return f"{cx + sx * u:.2f} {cy + sy * v:.2f}"

    flip = sx * sy < 0
    s1, s2 = (0, 1) if flip else (1, 0)
    ro, ri = r + t / 2, r - t / 2
    pts = [p(-t / 2, ey), p(-t / 2, r), p(r, -t / 2), p(ex, -t / 2), p(ex, t / 2), p(r, t / 2), p(t / 2, r),
           p(t / 2, ey)]
    if not flip:  # clockwise on screen already
        return [f"M{pts[0]}L{pts[1]}A{ro:.2f} {ro:.2f} 0 0 {s1} {pts[2]}L{pts[3]}L{pts[4]}L{pts[5]}"
                f"A{ri:.2f} {ri:.2f} 0 0 {s2} {pts[6]}L{pts[7]}Z"]
    # Mirrored once: the outline walked backwards (arcs with the other sweep), so that it stays clockwise.
    return [f"M{pts[7]}L{pts[6]}A{ri:.2f} {ri:.2f} 0 0 {1 - s2} {pts[5]}L{pts[4]}L{pts[3]}L{pts[2]}"
            f"A{ro:.2f} {ro:.2f} 0 0 {1 - s1} {pts[1]}L{pts[0]}Z"]


def _dash_shapes(ch: str, x0: float, y0: float, w: float, h: float) -> list[Rect | str]:
    name = unicodedata.name(ch)
    count = 2 if "DOUBLE DASH" in name else 3 if "TRIPLE DASH" in name else 4
    t = HEAVY if "HEAVY" in name else LIGHT
    cx, cy = x0 + w / 2, y0 + h / 2
    if name.endswith("HORIZONTAL"):
        slot = w / count
        return [_rect(x0 + i * slot + slot * 0.2, cy - t / 2, x0 + i * slot + slot * 0.8, cy + t / 2)
                for i in range(count)]
    slot = h / count
    return [_rect(cx - t / 2, y0 + i * slot + slot * 0.2, cx + t / 2, y0 + i * slot + slot * 0.8) for i in range(count)]


def _diagonal_shapes(ch: str, x0: float, y0: float, w: float, h: float) -> list[Rect | str]:
    x1, y1 = x0 + w, y0 + h
    dx = LIGHT * (w * w + h * h) ** 0.5 / h / 2
    rising = _polygon([(x0 - dx, y1), (x0 + dx, y1), (x1 + dx, y0), (x1 - dx, y0)])  # ╱
    falling = _polygon([(x0 - dx, y0), (x0 + dx, y0), (x1 + dx, y1), (x1 - dx, y1)])  # ╲
    return {"╱": [rising], "╲": [falling], "╳": [rising, falling]}[ch]


_QUADRANTS = {"▖": "c", "▗": "d", "▘": "a", "▙": "acd", "▚": "ad", "▛": "abc", "▜": "abd", "▝": "b", "▞": "bc",
              "▟": "bcd"}


def _block_shapes(ch: str, x0: float, y0: float, w: float, h: float) -> list[Rect | str] | None:
    o = ord(ch)
    x1, y1 = x0 + w + EPS, y0 + h + EPS
    if o == 0x2580:  # ▀
        return [_rect(x0, y0, x1, y0 + h / 2)]
    if 0x2581 <= o <= 0x2588:  # ▁ … █: the lower k eighths
        return [_rect(x0, y0 + h * (8 - (o - 0x2580)) / 8, x1, y1)]
    if 0x2589 <= o <= 0x258F:  # ▉ … ▏: the left k eighths
        k = 8 - (o - 0x2588)
        return [_rect(x0, y0, x0 + w * k / 8, y1)]
    if o == 0x2590:  # ▐
        return [_rect(x0 + w / 2, y0, x1, y1)]
    if o == 0x2594:  # ▔
        return [_rect(x0, y0, x1, y0 + h / 8)]
    if o == 0x2595:  # ▕
        return [_rect(x0 + w * 7 / 8, y0, x1, y1)]
    if ch in _QUADRANTS:
        mx, my = x0 + w / 2, y0 + h / 2
        boxes = {"a": (x0, y0, mx, my), "b": (mx, y0, x1, my), "c": (x0, my, mx, y1), "d": (mx, my, x1, y1)}
        return [_rect(*boxes[q]) for q in _QUADRANTS[ch]]
    return None  # shades ░ ▒ ▓: left to the font


def cell_shapes(ch: str, col: int, row: int) -> list[Rect | str] | None:
    """The shapes that draw ``ch`` in cell (``col``, ``row``) of Rich's grid, or None to leave it to the font."""
    x0, y0 = col * CHAR_WIDTH, row * LINE_HEIGHT + 1.5
    o = ord(ch)
    if 0x2580 <= o <= 0x259F:
        return _block_shapes(ch, x0, y0, CHAR_WIDTH, LINE_HEIGHT)
    if not 0x2500 <= o <= 0x257F:
        return None
    if ch in "╭╮╯╰":
        return _arc_shape(ch, x0, y0, CHAR_WIDTH, LINE_HEIGHT)
    if ch in "╱╲╳":
        return _diagonal_shapes(ch, x0, y0, CHAR_WIDTH, LINE_HEIGHT)
    if "DASH" in unicodedata.name(ch):
        return _dash_shapes(ch, x0, y0, CHAR_WIDTH, LINE_HEIGHT)
    return _line_shapes(ch, x0, y0, CHAR_WIDTH, LINE_HEIGHT)


# --- The post-processor -----------------------------------------------------------------------------


def print_svg(svg: str) -> str:
    """``svg`` (Rich's or Textual's SVG export) made offline, continuous and deterministic (see the module)."""
    doc = _parse(svg)
    uid = doc.uid
    used: dict[str, set[str]] = {face: set() for face in FONT_FILES}
    shapes: dict[str, list[Rect | str]] = {}
    texts: list[str] = []

    def emit(cls: str, col: int, row: int, text: str) -> None:
        # Blank cells draw nothing (backgrounds are rectangles); rsvg-convert drops leading no-break spaces.
        stripped = text.lstrip(" \u00a0")
        col += len(text) - len(stripped)
        text = stripped.rstrip(" \u00a0")
        if not text:
            return
        cells = sum(_cells(ch) for ch in text)
        used[_face(doc.styles.get(cls))].update(text)
        shown = html.escape(text, quote=False).replace(" ", "&#160;")
        texts.append(f'<text class="{uid}-{cls}" x="{_n(col * CHAR_WIDTH)}" y="{_n(row * LINE_HEIGHT + CHAR_HEIGHT)}" '
                     f'textLength="{_n(cells * CHAR_WIDTH)}" clip-path="url(#{uid}-line-{row})">{shown}</text>')

    for run in doc.runs:
        style = doc.styles.get(run.cls)
        upright = _upright_class(doc, run.cls) if style is not None and style.italic else None
        col, start, chunk = run.col, run.col, []
        for ch in "".join(STAND_INS.get(ch, ch) for ch in run.text):
            width = _cells(ch)
            drawn = cell_shapes(ch, col, run.row)
            if drawn is None and not (upright is not None and style is not None and _upright_in_italic(ch, style.bold)):
                chunk.append(ch)
                col += width
                continue
            emit(run.cls, start, run.row, "".join(chunk))
            if drawn is not None:
                shapes.setdefault(run.cls, []).extend(drawn)
            else:
                emit(upright or run.cls, col, run.row, ch)
            col += width
            start, chunk = col, []
        emit(run.cls, start, run.row, "".join(chunk))

    matrix = f'<g class="{uid}-matrix">'
    begin = svg.index(matrix) + len(matrix)
    end = svg.index("</g>", begin)
    drawn_svg = "".join(f'<path class="{uid}-{cls}" d="{_shapes_d(found)}"/>'
                        for cls, found in sorted(shapes.items(), key=lambda kv: int(kv[0][1:])))
    out = svg[:begin] + "\n" + drawn_svg + "\n" + "".join(texts) + "\n" + svg[end:]
    out = re.sub(r"@font-face\s*\{[^}]*\}", "", out)
    title = re.search(rf'<text class="{re.escape(uid)}-title"[^>]*>(.*?)</text>', out)
    if title:
        used["bold"].update(html.unescape(title.group(1)))
    faces = "".join(css + "\n" for css in (font_face_css(face, "".join(sorted(used[face]))) for face in FONT_FILES)
                    if css)
    out = re.sub(rf"(\.{re.escape(uid)}-matrix \{{)(.*?)(\}})", lambda m: m.group(1) + (
        f"\n        font-family: {FONT_STACK};\n        font-size: {FONT_SIZE}px;\n"
        f"        line-height: {LINE_HEIGHT}px;\n        font-variant-east-asian: full-width;\n"
        "        font-variant-ligatures: none;\n        font-feature-settings: \"liga\" 0, \"calt\" 0;\n    ")
        + m.group(3), out, count=1, flags=re.S)
    out = re.sub(rf"(\.{re.escape(uid)}-title \{{.*?)font-family:[^;]*;",
                 lambda m: m.group(1) + f"font-family: {FONT_STACK};", out, count=1, flags=re.S)
    out = out.replace("<style>", "<style>\n" + faces, 1)
    if doc.new_rules:
        rules = "".join(f"\n    .{uid}-{cls} {{ {css} }}" for cls, css in doc.new_rules.items())
        out = out.replace("    </style>", rules + "\n    </style>", 1)
    out = out.replace("<!-- Generated with Rich https://www.textualize.io -->",
                      "<!-- Generated with Rich https://www.textualize.io, made fit to print by smtpstep. Embedded "
                      "font: a DejaVu Sans Mono subset (Bitstream Vera licence; DejaVu changes are in the public "
                      "domain; the licence text is in the font's name table) -->")
    return _stable_ids(out, uid)


def _shapes_d(shapes: list[Rect | str]) -> str:
    rects = merge_rects([s for s in shapes if isinstance(s, tuple)])
    return "".join(_rect_d(r) for r in rects) + "".join(s for s in shapes if isinstance(s, str))


def _upright_class(doc: _Doc, cls: str) -> str:
    """A class like ``cls`` but upright: an existing one with the same colour and weight, or a new one."""
    if cls in doc.upright:
        return doc.upright[cls]
    style = doc.styles[cls]
    found = next((c for c, s in doc.styles.items()
                  if s.fill == style.fill and s.bold == style.bold and not s.italic
                  and "underline" not in s.css and "line-through" not in s.css), None)
    if found is None:
        found = f"u{cls[1:]}"
        doc.new_rules[found] = f"fill: {style.fill}" + (";font-weight: bold" if style.bold else "")
        doc.styles[found] = _Style(style.fill, style.bold)
    doc.upright[cls] = found
    return found


def _stable_ids(svg: str, uid: str) -> str:
    """Rich's ``terminal-<adler32>`` prefix replaced by ``sp-`` and the start of the picture's SHA-256."""
    placeholder = "sp-0000000000"
    body = svg.replace(uid, placeholder)
    return body.replace(placeholder, "sp-" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:10])


def screenshot_name(step: int, label: str) -> str:
    """A file name for a screenshot after ``step``: ``smtpstep-step03-ehlo.svg``."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:32] or "start"
    return f"smtpstep-step{step:02d}-{slug}.svg"
