"""The font smtpstep's pictures are drawn in: DejaVu Sans Mono, bundled, embedded as a subset per picture.

Holds the bundled faces (``fonts/``: Regular, Bold, Oblique, Bold Oblique, TrueType, with their licence),
``font_face_css`` (an ``@font-face`` rule holding a WOFF subset of one face with only the characters a
picture draws), ``covers`` (which characters a face has) and ``fontconfig_env`` (an environment in
which rsvg-convert and cairosvg see only the bundled faces, so a PNG is the same on every machine).

Why this font, and why so: DejaVu Sans Mono has every box-drawing and block character Textual draws and
the symbols smtpstep uses (✓ ✗ ⚠ ▶ ○ ■ □ arrows); its licence (Bitstream Vera, DejaVu changes public
domain) allows bundling and embedding; the subset keeps the copyright and licence entries of the name
table. TrueType files, not WOFF2: rsvg-convert draws empty boxes for every glyph of a WOFF2 file found
through fontconfig. The embedded subset is WOFF (zlib), not WOFF2, so no brotli is needed.

Rules: the output is a pure function of the characters asked for, the font files and the fontTools
version (no timestamps: ``recalc_timestamp`` off, FontForge's ``FFTM`` table dropped); nothing here
draws or parses SVG.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from functools import lru_cache
from pathlib import Path

# fontTools reports every table it subsets at INFO level: nothing a user's log needs.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT_DIR = Path(__file__).resolve().parent / "fonts"
"""The bundled TrueType faces and their licence (``LICENSE.txt``)."""

FONT_FILES = {"regular": "DejaVuSansMono.ttf", "bold": "DejaVuSansMono-Bold.ttf",
              "italic": "DejaVuSansMono-Oblique.ttf", "bolditalic": "DejaVuSansMono-BoldOblique.ttf"}
"""Face name to file."""

FACE_CSS = {"regular": ("normal", 400), "bold": ("normal", 700), "italic": ("italic", 400),
            "bolditalic": ("italic", 700)}
"""Face name to CSS font-style and font-weight."""

FAMILY = "DejaVu Sans Mono"
"""The embedded faces' family: the same name as the installed font and first in every stack, because cairosvg
reads only the first family of ``font-family`` and neither it nor rsvg-convert 2.54 reads ``@font-face``
(they use the installed, or for smtpstep's own PNGs the bundled, DejaVu Sans Mono), while a browser prefers
an author ``@font-face`` to a local font of the same name."""

FONT_STACK = f'"{FAMILY}", monospace'

ADVANCE = 1233 / 2048
"""Every DejaVu Sans Mono glyph's advance, in em."""


@lru_cache(maxsize=4)
def covers(face: str) -> frozenset[int]:
    """The code points ``face`` has a glyph for."""
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(FONT_DIR / FONT_FILES[face], lazy=True).getBestCmap())


@lru_cache(maxsize=64)
def font_subset(face: str, chars: str) -> bytes:
    """A WOFF subset of ``face`` with the glyphs of ``chars`` (sorted, no repeats): the same bytes each time."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff"
    options.hinting = False  # drawn large: outlines only (about 40 % smaller)
    options.layout_features = []  # no ligatures, no kerning: ``..`` stays two dots, the grid stays a grid
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # the copyright (0) and the licence (13, 14) travel along
    options.notdef_outline = True
    options.recalc_timestamp = False
    options.drop_tables = [*options.drop_tables, "FFTM"]  # FontForge's timestamps
    font = TTFont(FONT_DIR / FONT_FILES[face], recalcTimestamp=False, lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    font.flavor = "woff"
    out = io.BytesIO()
    font.save(out, reorderTables=True)
    return out.getvalue()


def font_face_css(face: str, chars: str) -> str:
    """An ``@font-face`` rule embedding the subset of ``face`` that draws ``chars`` ("" if it has none of them)."""
    wanted = "".join(sorted({c for c in chars if ord(c) in covers(face)}))
    if not wanted:
        return ""
    data = base64.b64encode(font_subset(face, wanted)).decode("ascii")
    style, weight = FACE_CSS[face]
    return (f'@font-face {{ font-family: "{FAMILY}"; font-style: {style}; font-weight: {weight}; '
            f'src: url(data:font/woff;base64,{data}) format("woff"); }}')


FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<!-- smtpstep: only the bundled DejaVu Sans Mono faces, settings inline (no system conf.d), so that
     rsvg-convert and cairosvg draw the same PNG on every machine. -->
<fontconfig>
  <dir>{fonts}</dir>
  <cachedir>{cache}</cachedir>
  <match target="pattern"><edit name="family" mode="append"><string>DejaVu Sans Mono</string></edit></match>
  <match target="font">
    <edit name="hinting" mode="assign"><bool>true</bool></edit>
    <edit name="hintstyle" mode="assign"><const>hintslight</const></edit>
    <edit name="antialias" mode="assign"><bool>true</bool></edit>
    <edit name="rgba" mode="assign"><const>none</const></edit>
  </match>
</fontconfig>
"""


def fontconfig_env(cache_dir: Path) -> dict[str, str]:
    """The environment for an rsvg-convert (or cairosvg) process that sees only the bundled faces.

    fontconfig reads ``FONTCONFIG_FILE`` once, when a process first uses it: give it to a new process.
    """
    from xml.sax.saxutils import escape

    cache_dir.mkdir(parents=True, exist_ok=True)
    conf = cache_dir / "fonts.conf"
    text = FONTS_CONF.format(fonts=escape(str(FONT_DIR)), cache=escape(str(cache_dir / "fc-cache")))
    if not conf.exists() or conf.read_text(encoding="utf-8") != text:
        conf.write_text(text, encoding="utf-8")
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}
