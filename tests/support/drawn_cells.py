"""Contrast as drawn: every cell of a Textual screenshot with its colours, and WCAG 2 contrast checks on them.

The input is the SVG of the public ``App.export_screenshot()`` (measure the raw export: the app's print
post-processing draws box glyphs as paths, which only its text survives). Rich has resolved every style into it already: a ``<rect
fill>`` per background run on the cell grid, a ``<text class>`` per glyph run whose class sets the ``fill``
(``reverse`` swapped, ``dim`` blended), the weight and the slant. So what is measured is what a screenshot
shows, whatever widget or theme variable drew it: disabled options, placeholders, footer keys, toasts.

Rules (WCAG 2.2): a text cell (any glyph but box drawing U+2500-257F, block elements U+2580-259F and
spaces) needs ``text_min`` against its own background (1.4.3 / 1.4.6); a graphic cell (borders, scrollbar
ends, the ``▌`` TLS gutter) needs 3:1 (1.4.11); a scrollbar, mostly spaces with a background colour, needs
3:1 between its thumb and its track. Under a modal screen only the dialog counts: the dimmed screen behind it
is an inactive backdrop (1.4.3 exempts inactive components).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import get_character_cell_size

CHAR_WIDTH = 12.2
"""Rich's SVG cell width in px."""
LINE_HEIGHT = 24.4
"""Rich's SVG line height in px."""

Region = tuple[int, int, int, int]
"""x, y, width, height in cells."""


@dataclass(frozen=True)
class Cell:
    row: int
    col: int
    char: str
    fg: str
    bg: str
    bold: bool = False
    italic: bool = False

    @property
    def kind(self) -> str:
        """"blank", "graphic" (box drawing, block elements) or "text"."""
        if self.char in (" ", "\u00a0", ""):
            return "blank"
        return "graphic" if 0x2500 <= ord(self.char[0]) <= 0x259F else "text"

    @property
    def ratio(self) -> float:
        return contrast(self.fg, self.bg)


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio of two opaque colours."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


_UID = re.compile(r"\.((?:terminal|sp)-[0-9a-f]+)-matrix")


def drawn_cells(svg: str, *, include_blank: bool = False) -> list[Cell]:
    """Every cell of the screenshot that carries a glyph (and the blank ones too, if asked), row by row."""
    found = _UID.search(svg)
    if found is None:
        raise ValueError("not a Rich SVG screenshot")
    uid = re.escape(found.group(1))
    styles = {}
    for cls, css in re.findall(rf"\.{uid}-(r\d+) \{{ (.*?) \}}", svg):
        fill = re.search(r"fill:\s*(#[0-9a-fA-F]{6})", css)
        styles[cls] = (fill.group(1).lower() if fill else "#000000", "font-weight: bold" in css, "italic" in css)
    line0 = re.search(rf'<clipPath id="{uid}-line-0">\s*<rect x="0" y="[\d.]+" width="([\d.]+)"', svg)
    assert line0 is not None
    width = round(float(line0.group(1)) / CHAR_WIDTH)
    rows = len(re.findall(rf'<clipPath id="{uid}-line-\d+">', svg)) + 1
    default = re.search(r'<rect fill="(#[0-9a-fA-F]{6})" stroke=', svg)
    grid = [[default.group(1).lower() if default else "#000000"] * width for _ in range(rows)]
    for fill, x, y, w in re.findall(r'<rect fill="(#[0-9a-fA-F]{6})" x="([-\d.]+)" y="([-\d.]+)" '
                                    r'width="([-\d.]+)" height="[-\d.]+" shape-rendering', svg):
        row, first = round((float(y) - 1.5) / LINE_HEIGHT), round(float(x) / CHAR_WIDTH)
        if 0 <= row < rows:
            for col in range(first, min(width, first + round(float(w) / CHAR_WIDTH))):
                grid[row][col] = fill.lower()
    cells: dict[tuple[int, int], Cell] = {}
    for cls, x, y, content in re.findall(rf'<text class="{uid}-(r\d+)" x="([-\d.]+)" y="([-\d.]+)"[^>]*>(.*?)</text>',
                                         svg):
        fg, bold, italic = styles.get(cls, ("#000000", False, False))
        row, col = round((float(y) - 20) / LINE_HEIGHT), round(float(x) / CHAR_WIDTH)
        for char in html.unescape(content):
            if 0 <= row < rows and 0 <= col < width:
                cell = Cell(row, col, char, fg, grid[row][col], bold, italic)
                if include_blank or cell.kind != "blank":
                    cells[(row, col)] = cell
            col += get_character_cell_size(char)
    if include_blank:
        for row in range(rows):
            for col in range(width):
                cells.setdefault((row, col), Cell(row, col, " ", grid[row][col], grid[row][col]))
    return [cells[key] for key in sorted(cells)]


def row_text(cells: Iterable[Cell], row: int) -> str:
    line = {c.col: c.char for c in cells if c.row == row}
    return "".join(line.get(i, " ") for i in range(max(line, default=-1) + 1)).strip()


def inside(cell: Cell, regions: list[Region] | None) -> bool:
    return regions is None or any(x <= cell.col < x + w and y <= cell.row < y + h for x, y, w, h in regions)


def failures(cells: list[Cell], *, text_min: float, graphic_min: float = 3.0,
             within: list[Region] | None = None) -> list[str]:
    """One line per distinct (colours, style, kind) below its minimum, with the first row it is drawn in."""
    seen, out = set(), []
    for cell in cells:
        kind = cell.kind
        if kind == "blank" or not inside(cell, within):
            continue
        minimum = text_min if kind == "text" else graphic_min
        if cell.ratio + 1e-9 < minimum:
            key = (cell.fg, cell.bg, cell.bold, cell.italic, kind)
            if key not in seen:
                seen.add(key)
                style = ("bold " if cell.bold else "") + ("italic " if cell.italic else "")
                out.append(f"{kind} {cell.char!r} {style}{cell.fg} on {cell.bg}: {cell.ratio:.2f} < {minimum} "
                           f"in “{row_text(cells, cell.row)[:70]}”")
    return out


def scrollbar_contrast(cells: list[Cell], region: Region) -> float | None:
    """Thumb against track: the contrast of the two most different backgrounds in a scrollbar's region
    (``cells`` with the blank ones); None for a scrollbar of one colour (nothing to scroll)."""
    colours = {c.bg for c in cells if inside(c, [region])}
    if len(colours) < 2:
        return None
    return max(contrast(a, b) for a in colours for b in colours)
