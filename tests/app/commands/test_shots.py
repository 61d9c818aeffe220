"""`smtpstep shots`: one SVG per step with ordered names, an index.md with captions, no web font."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from smtpstep.app.commands.shots import png_converter, to_png
from tests.support.env import REPO

SECRETS = ("classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t")
NAMES = ["01-connect.svg", "02-greeting.svg", "03-ehlo.svg", "04-starttls.svg", "05-tls-handshake.svg",
         "06-ehlo-after-starttls.svg", "07-auth-plain.svg", "08-mail.svg", "09-rcpt.svg", "10-data.svg",
         "11-message.svg", "12-quit.svg"]


@pytest.fixture(scope="module")
def env(module_env: dict[str, str]) -> dict[str, str]:
    return module_env


def smtpstep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "smtpstep.app.cli", *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


@pytest.fixture(scope="module")
def shots(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shots") / "notes"
    done = smtpstep("shots", "--out", str(out), "--size", "100x30", "--theme", "print", env=env)
    assert done.returncode == 0, done.stderr
    assert "12 screenshots and index.md" in done.stdout
    return out


def test_shots_writes_one_svg_per_step_in_order(shots: Path) -> None:
    assert sorted(p.name for p in shots.glob("*.svg") if not p.name.endswith(".diagram.svg")) == NAMES
    assert not list(shots.glob(".*"))  # nothing half-written left behind


def test_the_shots_render_offline_in_the_chosen_theme(shots: Path) -> None:
    for path in shots.glob("*.svg"):
        svg = path.read_text(encoding="utf-8")
        assert "Fira Code" not in svg
        assert re.findall(r"url\(([^)]*)\)", svg) == re.findall(r"url\((data:font/woff;base64,[^)]*|#[^)]*)\)", svg)
        assert not re.search(r"url\(\s*[\"']?(https?:)?//", svg)
        assert "font-variant-ligatures: none" in svg
        assert "#ffffff" in svg.lower()  # the print theme's paper
        for secret in SECRETS:
            assert secret not in svg
    title = html.unescape((shots / "08-mail.svg").read_text(encoding="utf-8")).replace("\xa0", " ")
    assert "smtpstep — step 8" in title


def test_the_index_lists_every_shot_with_its_caption(shots: Path) -> None:
    index = (shots / "index.md").read_text(encoding="utf-8")

    for number, name in enumerate(NAMES, 1):
        assert re.search(rf"^## Step {number} of 12 — .+$", index, re.M), number
        assert f"]({name})" in index
    assert "## Step 8 of 12 — MAIL FROM: 250 sender accepted" in index
    assert index.index("01-connect.svg") < index.index("12-quit.svg")
    for secret in SECRETS:
        assert secret not in index


@pytest.mark.parametrize("args", [("--size", "10x5"), ("--size", "wide"), ("--theme", "no-such-theme")])
def test_bad_shots_options_are_usage_errors(env: dict[str, str], tmp_path: Path, args: tuple[str, str]) -> None:
    done = smtpstep("shots", "--out", str(tmp_path / "out"), *args, env=env)

    assert done.returncode == 2
    assert not (tmp_path / "out").exists()


def test_a_shot_converts_to_png(shots: Path, tmp_path: Path) -> None:
    converter = png_converter()
    if converter is None:
        pytest.skip("no SVG to PNG converter here (rsvg-convert or the png extra)")

    png = to_png(shots / "03-ehlo.svg", tmp_path / "03-ehlo.png", converter, zoom=1.0)

    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_a_lesson_is_shot_part_after_part_with_its_narration(env: dict[str, str], tmp_path: Path) -> None:
    done = smtpstep("shots", "--lesson", "greylisting", "--out", str(tmp_path / "grey"), "--transcript",
                    str(tmp_path / "grey.md"), env=env)

    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (tmp_path / "grey").glob("*.svg") if not p.name.endswith(".diagram.svg"))
    assert names[0] == "01-connect.svg" and names[-1].endswith("-quit.svg")
    assert sum(name.endswith("-connect.svg") for name in names) == 2  # one session per part
    index = (tmp_path / "grey" / "index.md").read_text(encoding="utf-8")
    assert index.startswith("# Lesson greylisting: ")
    assert "**Part 1 of 2: " in index and "**Part 2 of 2: " in index
    assert re.search(r"^> \S", index, re.M)  # the lesson's own words
    assert "451" in index
    assert (tmp_path / "grey.md").is_file() and (tmp_path / "grey-part2.md").is_file()
