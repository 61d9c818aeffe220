"""Makes Textual's SVG screenshots look right offline and true to the bytes.

Textual's SVG loads Fira Code from a CDN; offline, viewers fall back to another font and columns can
misalign, and Fira Code's ligatures draw ``..`` and ``->`` as single glyphs, which would falsify the
dot-stuffing lesson. This swaps the font for a local monospace stack and turns ligatures off.
"""

from __future__ import annotations

import re

FONT_STACK = '"DejaVu Sans Mono", "Liberation Mono", "Noto Sans Mono", Menlo, Consolas, monospace'
"""Local monospace fonts only: listing an emoji font here makes some renderers (rsvg) draw digits from it."""

_FONT_FACE = re.compile(r"@font-face\s*{[^}]*}", re.S)
_FAMILY = re.compile(r"font-family:\s*[^;]*;")


def offline_svg(svg: str) -> str:
    """The SVG with no web font, a local monospace stack and ligatures off."""
    svg = _FONT_FACE.sub("", svg)
    svg = _FAMILY.sub(f"font-family: {FONT_STACK}; font-variant-ligatures: none; "
                      "font-feature-settings: \"liga\" 0, \"calt\" 0;", svg)
    return svg


def screenshot_name(step: int, label: str) -> str:
    """A file name for a screenshot after ``step``: ``smtpstep-step03-ehlo.svg``."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:32] or "start"
    return f"smtpstep-step{step:02d}-{slug}.svg"
