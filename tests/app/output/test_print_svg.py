"""Screenshots fit to print: ``svg.print_svg`` on a real screen of the app, and the capture without toasts
or scrollbars (``saving.clean_screenshot``).

The picture must need no font but the one it embeds, draw every border as one continuous line in
rsvg-convert, cairosvg and Chromium (checked on the pixels, down a border column), keep ``..`` two dots,
and be the same bytes for the same screen.
"""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from smtpstep.app.output.font import covers
from smtpstep.app.output.svg import CHAR_WIDTH, LINE_HEIGHT, STAND_INS, print_svg
from smtpstep.app.saving import clean_screenshot
from smtpstep.app.session.settings import SessionSettings
from smtpstep.app.stepper_app import SmtpStepApp
from tests.support.png import read_png
from tests.support.waiting import started, step

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
SETTINGS = SessionSettings(server=None, security="starttls", ca_file=None, insecure=False, user="student",
                           password="classroom", display_name="localhost")
ORIGIN = (9, 41)
"""Where Rich's SVG template puts the terminal's first cell."""


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Raw SVGs of the app at 100x30 after EHLO and after the TLS handshake, plus one with a toast up."""
    import asyncio

    from smtpstep.protocol.server.server import LocalServer

    server = LocalServer(maildir=tmp_path_factory.mktemp("maildir"))
    server.start_in_thread()

    async def take() -> dict[str, str]:
        app = SmtpStepApp(SETTINGS, server=server, now=NOW, timings=False, theme="print",  # type: ignore[arg-type]
                          screenshot_dir=Path("/nonexistent"))
        shots = {}
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await started(app)
            await step(pilot, times=3)
            shots["ehlo"] = app.export_screenshot(title="ehlo")
            await step(pilot, times=2)
            shots["tls"] = app.export_screenshot(title="tls")
            app.notify("Saved somewhere.svg", timeout=60)
            await pilot.pause()
            shots["toast"] = app.export_screenshot(title="toast")
            shots["clean"] = await clean_screenshot(app, title="toast")
            await pilot.pause()
            shots["after"] = app.export_screenshot(title="toast")
        return shots

    try:
        yield asyncio.run(take())
    finally:
        server.stop_thread()


def _text(svg: str) -> str:
    return html.unescape(" ".join(re.findall(r"<text [^>]*>(.*?)</text>", svg, re.S))).replace("\xa0", " ")


def test_no_web_font_an_embedded_subset_and_no_ligatures(screens: dict[str, str]) -> None:
    from fontTools.ttLib import TTFont

    raw, out = screens["tls"], print_svg(screens["tls"])
    assert "fonts.cdnjs" in raw or "@font-face" in raw  # Textual's own: a web font
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", out)
    assert "font-variant-ligatures: none" in out
    faces = re.findall(r"src: url\(data:font/woff;base64,([^)]+)\)", out)
    assert faces
    for data in faces:
        font = TTFont(io.BytesIO(base64.b64decode(data)))
        assert "Bitstream" in font["name"].getDebugName(0)  # the copyright notice travels with the subset


def test_every_character_drawn_as_text_is_in_the_bundled_font(screens: dict[str, str]) -> None:
    out = print_svg(screens["tls"])
    drawn = set(_text(out)) - {" "}
    assert drawn
    have = covers("regular") | covers("bold")
    assert {c for c in drawn if ord(c) not in have} == set()
    assert not drawn & set(STAND_INS)  # no emoji font needed
    assert not {c for c in drawn if 0x2500 <= ord(c) <= 0x259F}  # borders and blocks are shapes


def test_italic_ticks_are_drawn_upright(screens: dict[str, str]) -> None:
    out = print_svg(screens["tls"])
    italic = set(re.findall(r"\.(sp-[0-9a-f]{10}-r\d+) \{[^}]*font-style: italic", out))
    for cls, words in re.findall(r'<text class="([^"]+)"[^>]*>(.*?)</text>', out):
        if "✓" in words:
            assert cls not in italic, words


def test_the_same_screen_gives_the_same_bytes_and_another_screen_other_class_names(screens: dict[str, str]) -> None:
    first, again, other = print_svg(screens["ehlo"]), print_svg(screens["ehlo"]), print_svg(screens["tls"])
    assert first == again
    ids = {re.search(r"\.(sp-[0-9a-f]{10})-matrix", svg).group(1) for svg in (first, other)}  # type: ignore[union-attr]
    assert len(ids) == 2


def test_no_text_run_starts_or_ends_with_a_blank(screens: dict[str, str]) -> None:
    for words in re.findall(r"<text [^>]*>(.*?)</text>", print_svg(screens["tls"]), re.S):
        shown = html.unescape(words)
        assert shown == shown.strip(" \xa0"), repr(shown)


def _rows(svg: str) -> str:
    """The screen's text row by row, as drawn (a run of text may be cut where panes meet under a toast)."""
    from tests.support.drawn_cells import drawn_cells, row_text

    cells = drawn_cells(svg)
    return "\n".join(row_text(cells, row) for row in range(max(c.row for c in cells) + 1))


def test_the_capture_hides_toasts_and_scrollbars_and_they_come_back(screens: dict[str, str]) -> None:
    assert "Saved somewhere.svg" in _rows(screens["toast"])
    assert "Saved somewhere.svg" not in _rows(screens["clean"])
    assert "Saved somewhere.svg" in _rows(screens["after"])
    scrollbar = set("▁▂▃▄▅▆▇▉▊▋▍▎▏")
    # The wire log has scrolled by the handshake: Textual draws its thumb; the capture does not.
    assert set(_text(screens["toast"])) & scrollbar
    assert not re.search(r'class="[^"]*-r\d+" x="[\d.]+" y="[\d.]+"[^>]*>[▁▂▃▄▅▆▇▉▊▋▍▎▏]', screens["clean"])


# --- Rendering ----------------------------------------------------------------------------------------


def _rsvg(svg: Path, png: Path) -> None:
    subprocess.run(["rsvg-convert", "--zoom", "2", "--output", str(png), str(svg)], check=True, timeout=60)


def _cairosvg(svg: Path, png: Path) -> None:
    cairosvg = pytest.importorskip("cairosvg", reason="cairosvg is not installed (pip install -e '.[test]')")
    cairosvg.svg2png(url=str(svg), write_to=str(png), scale=2)


def _chromium(svg: Path, png: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    width, height = (float(v) for v in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"',  # type: ignore[union-attr]
                                                 svg.read_text(encoding="utf-8")).groups())
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": round(width), "height": round(height)}, device_scale_factor=2)
            page.goto(svg.as_uri())
            page.evaluate("document.fonts.ready.then(() => true)")
            page.screenshot(path=str(png))
        finally:
            browser.close()


RENDERERS = {"rsvg-convert": (_rsvg, "rsvg-convert"), "cairosvg": (_cairosvg, None), "chromium": (_chromium, "chromium")}


@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_the_command_queues_left_border_is_one_unbroken_line(screens: dict[str, str], renderer: str,
                                                              tmp_path: Path) -> None:
    """Down column 0 (the queue's left border) over rows 3 to 9, at 2x: every pixel has the line's colour."""
    draw, program = RENDERERS[renderer]
    if program is not None and shutil.which(program) is None:
        pytest.skip(f"{program} is not installed; .ci/run installs it")
    svg = tmp_path / "shot.svg"
    svg.write_text(print_svg(screens["ehlo"]), encoding="utf-8")
    png = tmp_path / "shot.png"
    draw(svg, png)
    image = read_png(png.read_bytes())
    x = round((ORIGIN[0] + 0.5 * CHAR_WIDTH) * 2)
    top, bottom = (round((ORIGIN[1] + row * LINE_HEIGHT + 1.5) * 2) for row in (3, 9))
    line = image.darkness(x, (top + bottom) // 2)
    paper = image.darkness(x + 8, (top + bottom) // 2)
    assert abs(line - paper) > 60, (line, paper)  # there is a line here
    worst = max(abs(image.darkness(x, y) - line) for y in range(top, bottom))
    assert worst < abs(line - paper) / 2, f"{renderer}: a gap in the border ({worst} off the line's {line})"
