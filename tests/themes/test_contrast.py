"""WCAG 2 contrast of every colour variable smtpstep draws text with, against the backgrounds it may be drawn
on, per theme: also the reply kinds and colours a short session never shows.

Strict themes (projector, print, high-contrast) need 7:1 (WCAG AAA); the others 4.5:1 (AA). What is
actually drawn, Textual's own styles included, is measured by ``test_drawn_contrast.py``.
"""

from __future__ import annotations

import pytest
from textual.color import Color

from smtpstep.themes import APP_VARIABLES, STRICT_THEMES, THEMES

TEXT_ON_PANES = (
    "foreground", "text", "wire-client", "wire-server", "tls-boundary", "wire-note", "reply-positive",
    "reply-intermediate", "reply-transient", "reply-permanent", "secret", "text-error",
)
"""Colours drawn as text in the panes (surface) and on the screen background."""

TEXT_ON_PANEL = ("foreground", "footer-key-foreground", "footer-description-foreground")
"""Colours drawn on the header and footer (panel)."""


def _luminance(color: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast(a: Color, b: Color) -> float:
    """The WCAG 2 contrast ratio of two opaque colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def resolve(value: str, background: Color) -> Color:
    """A CSS colour value as drawn over ``background`` (``auto`` and alpha included)."""
    words = value.split()
    alpha = float(words[1].rstrip("%")) / 100 if len(words) > 1 else 1.0
    if words[0] == "auto":
        return background.blend(background.get_contrast_text(1.0), alpha)
    color = Color.parse(words[0])
    return background.blend(color.with_alpha(1.0), alpha * color.a)


def _variables(theme) -> dict[str, str]:  # type: ignore[no-untyped-def]
    variables = dict(APP_VARIABLES)
    variables.update(theme.to_color_system().generate())
    variables.update(theme.variables)
    return variables


def test_contrast_of_black_on_white_is_21() -> None:
    assert contrast(Color.parse("#000"), Color.parse("#fff")) == pytest.approx(21.0)


def test_every_theme_sets_every_app_variable() -> None:
    for theme in THEMES:
        assert set(APP_VARIABLES) <= set(theme.variables), theme.name


@pytest.mark.parametrize("theme", THEMES, ids=lambda t: t.name)
def test_every_text_colour_is_readable_on_its_background(theme) -> None:  # type: ignore[no-untyped-def]
    variables = _variables(theme)
    minimum = 7.0 if theme.name in STRICT_THEMES else 4.5
    failures = []
    for ground_name, names in (("surface", TEXT_ON_PANES), ("background", TEXT_ON_PANES),
                               ("panel", TEXT_ON_PANEL)):
        ground = Color.parse(variables[ground_name])
        for name in names:
            ratio = contrast(resolve(variables[name], ground), ground)
            if ratio < minimum:
                failures.append(f"{name} on {ground_name}: {ratio:.2f}")
    assert not failures, f"{theme.name} below {minimum}:1 — " + "; ".join(failures)


def test_the_strict_themes_are_the_room_and_paper_themes() -> None:
    assert STRICT_THEMES == {"projector", "print", "high-contrast"}
