"""Presentation mode's pure parts: the block letters of the caption and the wrapped exchange.

The letters must stay legible and never turn into empty boxes: every glyph is three cells wide on three
rows, and every character they use is in the bundled DejaVu Sans Mono (the font the screenshots embed).
"""

from __future__ import annotations

from rich.console import Console

from smtpstep.app.session.transcript import TranscriptLine
from smtpstep.app.widgets.presentation import _FONT, StageLine, block_letters, exchange_text
from tests.support.env import REPO


def test_block_letters_are_three_equal_rows_and_none_for_a_character_the_font_lacks() -> None:
    rows = block_letters("6 EHLO 250")
    assert rows is not None and len(rows) == 3 and len({len(row) for row in rows}) == 1
    assert len(rows[0]) == 4 * 8 + 2 * 2 - 1  # eight glyphs of 3 cells and a gap, two spaces of 2 cells
    assert block_letters("EHLO é") is None


def test_every_block_letter_glyph_is_three_cells_wide_and_drawn_by_the_bundled_font() -> None:
    from fontTools.ttLib import TTFont

    cmap = TTFont(REPO / "app" / "output" / "fonts" / "DejaVuSansMono.ttf").getBestCmap()
    for char, glyph in _FONT.items():
        assert [len(row) for row in glyph] == [3, 3, 3], char
        missing = {c for row in glyph for c in row if ord(c) not in cmap}
        assert not missing, f"{char}: {missing}"


def test_a_long_line_wraps_under_its_own_start_and_keeps_every_character() -> None:
    text = "250-" + "X" * 90 + " AUTH PLAIN LOGIN"
    line = TranscriptLine("server", "S:", text, True, 6, 0.0)
    console = Console(width=40, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(exchange_text([StageLine(line, "new after STARTTLS")]))
    rows = capture.get().splitlines()
    assert len(rows) > 2 and rows[0].startswith("▌▶ S: 250-")
    assert all(row.startswith("      ") for row in rows[1:])  # under the text, not under the gutter
    joined = "".join(row.strip() for row in rows)
    assert text.replace(" ", "") in joined.replace(" ", "") and "◀ new after STARTTLS" in " ".join(rows)
