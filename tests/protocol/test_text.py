"""The one escaping function: what it escapes, how, and what it leaves alone.

Property tests over any text: the result is printable (but TAB, and line feeds in ``shown_lines``), equal to
the input where the input was already printable, and the escapes read back to the input (so nothing is lost,
only made visible).
"""

from __future__ import annotations

import ast

from hypothesis import given
from hypothesis import strategies as st

from smtpstep.protocol.replies import printable
from smtpstep.protocol.text import LINES, escape_of, is_utf8, quoted, quoted_bytes, shown, shown_lines


def test_controls_and_bidirectional_overrides_are_visible_escapes() -> None:
    assert shown("\x1b]52;c;cm0=\x07") == "\\x1b]52;c;cm0=\\x07"
    assert shown("\x00\x7f\x9b\u202e\u2066\u200b\r\n") == "\\x00\\x7f\\x9b\\u202e\\u2066\\u200b\\x0d\\x0a"
    assert shown("\udcff") == "\\udcff"  # a byte that was not UTF-8, decoded with surrogate escapes
    assert shown("\U000e0001") == "\\U000e0001"  # a tag character (Cf) beyond the BMP
    assert escape_of(0x1B) == "\\x1b" and escape_of(0x202E) == "\\u202e"


def test_what_is_printable_keeps_its_own_form() -> None:
    text = "250 2.0.0 Grüße ✓ 日本語 [bold]markup[/] → §4.2\ttab"
    assert shown(text) is text or shown(text) == text
    assert shown_lines("a\nb\x1bc") == "a\nb\\x1bc"


def test_quoted_bounds_before_escaping() -> None:
    assert quoted("x" * 100, 10) == "x" * 10 + "…"
    assert quoted("\x1b" * 100, 3) == "\\x1b" * 3 + "…"
    assert quoted_bytes(b"\xff\x1b]0;T\x07", 60) == "\ufffd\\x1b]0;T\\x07"
    assert printable is quoted  # the core's name for it


@given(st.text())
def test_the_result_is_printable_and_reads_back_to_the_input(text: str) -> None:
    result = shown(text)
    assert result.replace("\t", "").isprintable()
    if text.replace("\t", "").isprintable():
        assert result == text
    # Each escape is a Python string escape; a backslash already in the text is not doubled, so compare
    # on the characters that were escaped.
    escaped = [char for char in text if not (char.isprintable() or char == "\t")]
    assert all(escape_of(ord(char)) in result for char in escaped)
    for char in escaped:
        assert ast.literal_eval(f'"{escape_of(ord(char))}"') == char


@given(st.text())
def test_lines_keep_their_line_feeds(text: str) -> None:
    result = text.translate(LINES)
    assert result.count("\n") == text.count("\n")
    assert result.replace("\n", "").replace("\t", "").isprintable()


def test_text_from_undecodable_bytes_is_not_utf8() -> None:
    assert is_utf8("Grüße ✓") and is_utf8("")
    assert not is_utf8(b"\xff".decode("utf-8", "surrogateescape"))
