"""Every file from outside is bounded before anything is built from it: a test per limit, and the memory it keeps.

Lesson files (``protocol/lessons/loader.py``): the file's size, its nesting, the parts, the steps, the
recipients, each text field's length, and the message after ``body_repeat``. Recordings
(``app/session/recording.py``, ``codec.py``): the file's size (checked before reading, and never read
further), non-ASCII files' smaller size, the count of values, the nesting. Each refusal is one line naming
the field or the limit, exit 2. Memory: the peak RSS of the ``smtpstep`` process itself (``os.wait4``),
for a 20 KB hostile lesson file, a 100 MB recording, a recording at the size limit, and files that never
end (``/dev/zero``): every one under ``RSS_LIMIT``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smtpstep.app.session.recording import MAX_FILE_SIZE, MAX_NON_ASCII_SIZE, MAX_VALUES
from smtpstep.protocol.lessons.loader import (
    MAX_FILE_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_NESTING,
    MAX_PARTS,
    MAX_RECIPIENTS,
    MAX_STEPS_PER_PART,
    TEXT_LIMITS,
)
from tests.support.env import REPO, clean_env

RSS_LIMIT = 200 * 1024 * 1024
"""The most memory (resident) any of these runs may take, in bytes."""

MINIMAL = '''title = "t"
summary = "s"
goal = "g"
[session]
security = "none"
{session}
[[step]]
kind = "connect"
say = "{say}"
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path, PYTHONPATH=str(REPO))


MEASURE = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as result:
    result.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""
"""Runs a command and writes its exit code and peak RSS. A process of its own, small: Linux counts the RSS a
process had before ``exec`` in its peak, so a command started straight from pytest would inherit pytest's."""


def smtpstep(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str, int]:
    """Run ``smtpstep ARGS``; its exit code, stdout, stderr and peak RSS in bytes (``os.wait4``: its own)."""
    out, err, result = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "measured"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        subprocess.run([sys.executable, "-c", MEASURE, str(result), sys.executable, "-m", "smtpstep.app.cli", *args],
                       cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, check=True,
                       timeout=300)
    code, kib = map(int, result.read_text().split())
    peak = kib * (1 if sys.platform == "darwin" else 1024)  # Linux counts KiB, macOS bytes
    return code, out.read_text("utf-8"), err.read_text("utf-8"), peak


def one_line(err: str) -> str:
    assert err.startswith("smtpstep") and err.count("\n") == 1, err
    return err


def lesson(tmp_path: Path, text: str, name: str = "bounded.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- Lesson files -------------------------------------------------------------------------------------


def test_a_lesson_file_over_the_size_limit_is_refused_unread(tmp_path: Path, env: dict[str, str]) -> None:
    path = lesson(tmp_path, MINIMAL.format(session="", say="x" * 10) + "# " + "x" * MAX_FILE_BYTES + "\n")
    code, _, err, _ = smtpstep(tmp_path, env, "lessons", str(path))
    assert code == 2 and f"larger than {MAX_FILE_BYTES // 1024} KiB" in one_line(err)


@pytest.mark.parametrize("depth", [MAX_NESTING + 2, 50_000])
def test_a_lesson_file_nested_too_deeply_is_refused(depth: int, tmp_path: Path, env: dict[str, str]) -> None:
    # 50,000 levels: where Python's TOML parser would run out of stack (RecursionError).
    path = lesson(tmp_path, MINIMAL.format(session=f"to = {'[' * depth}{']' * depth}", say="x"))
    code, _, err, _ = smtpstep(tmp_path, env, "lessons", str(path))
    assert code == 2 and "the file is nested too deeply" in one_line(err), err


@pytest.mark.parametrize("field", sorted(TEXT_LIMITS))
def test_every_text_field_of_a_lesson_has_a_limit(field: str, tmp_path: Path, env: dict[str, str]) -> None:
    value = "x" * (TEXT_LIMITS[field] + 1)
    where = {"title": "title", "goal": "goal", "scenario": "scenario"}
    if field in where:
        text = MINIMAL.format(session="", say="x").replace(f'{field} = "', f'{field} = "{value}', 1) \
            if field != "scenario" else MINIMAL.format(session="", say="x").replace("[session]", f'scenario = "{value}"\n[session]')
    elif field in ("say", "kind", "failure"):
        text = MINIMAL.format(session="", say="x").replace('kind = "connect"', f'kind = "connect"\n{field} = "{value}"')
        if field == "say":
            text = MINIMAL.format(session="", say=value)
        if field == "kind":
            text = MINIMAL.format(session="", say="x").replace('kind = "connect"', f'kind = "{value}"')
    elif field in ("intro",):
        text = ('title = "t"\nsummary = "s"\ngoal = "g"\n[[part]]\ntitle = "p"\n'
                f'intro = "{value}"\n[[part.step]]\nkind = "connect"\nsay = "x"\n')
    else:  # a [session] field
        text = MINIMAL.format(session=f'{field} = "{value}"', say="x")
        if field == "security":
            text = text.replace('security = "none"\n', "", 1)
    code, _, err, _ = smtpstep(tmp_path, env, "lessons", str(lesson(tmp_path, text)))
    assert code == 2
    assert f"longer than the {TEXT_LIMITS[field]:,} characters" in one_line(err) and f"“{field}”" in err, err


def test_a_lesson_summary_has_its_limit(tmp_path: Path, env: dict[str, str]) -> None:
    text = MINIMAL.format(session="", say="x").replace('summary = "s"', f'summary = "{"s" * 101}"')
    code, _, err, _ = smtpstep(tmp_path, env, "lessons", str(lesson(tmp_path, text)))
    assert code == 2 and "at most 100 characters" in one_line(err)


def test_too_many_parts_steps_or_recipients_are_refused(tmp_path: Path, env: dict[str, str]) -> None:
    part = '[[part]]\ntitle = "p"\n[[part.step]]\nkind = "connect"\nsay = "x"\n'
    parts = 'title = "t"\nsummary = "s"\ngoal = "g"\n' + part * (MAX_PARTS + 1)
    steps = MINIMAL.format(session="", say="x") + '[[step]]\nkind = "connect"\nsay = "x"\n' * MAX_STEPS_PER_PART
    recipients = MINIMAL.format(session="to = [" + ", ".join(['"a@example.test"'] * (MAX_RECIPIENTS + 1)) + "]",
                                say="x")
    for text, words in ((parts, f"at most {MAX_PARTS} parts"), (steps, f"at most {MAX_STEPS_PER_PART} steps"),
                        (recipients, f"at most {MAX_RECIPIENTS} recipients")):
        code, _, err, _ = smtpstep(tmp_path, env, "lessons", str(lesson(tmp_path, text)))
        assert code == 2 and words in one_line(err), err


def test_the_message_after_body_repeat_is_bounded_before_it_is_made(tmp_path: Path, env: dict[str, str]) -> None:
    body = "x" * 99 + "\\n"  # 100 octets
    at_limit = MINIMAL.format(session=f'body = "{body}"\nbody_repeat = {MAX_MESSAGE_BYTES // 100}', say="x")
    over = MINIMAL.format(session=f'body = "{body}"\nbody_repeat = {MAX_MESSAGE_BYTES // 100 + 1}', say="x")
    code, _, err, _ = smtpstep(tmp_path, env, "lessons", str(lesson(tmp_path, at_limit)))
    assert code == 0, err
    code, _, err, _ = smtpstep(tmp_path, env, "lessons", str(lesson(tmp_path, over)))
    assert code == 2 and "“body_repeat”" in one_line(err) and f"at most {MAX_MESSAGE_BYTES // 1024} KiB" in err


def test_a_20_kb_hostile_lesson_file_stays_under_the_memory_limit(tmp_path: Path, env: dict[str, str]) -> None:
    # The shape that once took 5.9 GB: a 20 KB body repeated 100,000 times.
    body = "x" * (20 * 1024 - 200)
    path = lesson(tmp_path, MINIMAL.format(session=f'body = "{body}"\nbody_repeat = 100000', say="x"))
    assert path.stat().st_size >= 20_000
    code, _, err, peak = smtpstep(tmp_path, env, "run", "--lesson", str(path))
    assert code == 2 and "“body_repeat”" in one_line(err)
    assert peak < RSS_LIMIT, f"{peak / 2**20:.0f} MiB"
    # And one at the limit runs whole: a 1 MiB message, sent, stored, narrated.
    path = lesson(tmp_path, MINIMAL.format(session=f'body = "{"y" * 10239}\\n"\nbody_repeat = 102', say="x"))
    code, out, err, peak = smtpstep(tmp_path, env, "run", "--lesson", str(path))
    assert code == 0, err
    assert peak < RSS_LIMIT, f"{peak / 2**20:.0f} MiB"


def test_a_lesson_file_that_never_ends_is_read_no_further_than_the_limit(tmp_path: Path, env: dict[str, str]) -> None:
    code, _, err, peak = smtpstep(tmp_path, env, "lessons", "/dev/zero")
    assert code == 2 and f"larger than {MAX_FILE_BYTES // 1024} KiB" in one_line(err)
    assert peak < RSS_LIMIT


# --- Recordings ---------------------------------------------------------------------------------------


def test_a_100_mb_recording_is_refused_before_it_is_read(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as file:  # 100 MB of a recording's beginning and spaces: real bytes, not a sparse file
        file.write(b'{"format": "smtpstep recording", "version": 2, "meta": {}, "blobs": ["')
        block = b"A" * (1024 * 1024)
        for _ in range(100):
            file.write(block)
        file.write(b'"], "views": [], "chunks": []}')
    code, _, err, peak = smtpstep(tmp_path, env, "replay", str(path), "--transcript", str(tmp_path / "out.txt"))
    assert code == 2 and f"larger than {MAX_FILE_SIZE // 2**20} MiB" in one_line(err)
    assert peak < RSS_LIMIT, f"{peak / 2**20:.0f} MiB"


def recording_with_blob(tmp_path: Path, env: dict[str, str], size: int, char: str = "A") -> Path:
    """A real recording (``smtpstep run`` on the built-in server) padded with one long value to ``size`` bytes."""
    small = tmp_path / "small.json"
    code, _, err, _ = smtpstep(tmp_path, env, "run", "--transcript", str(small))
    assert code == 0, err
    document = json.loads(small.read_text("utf-8"))
    padding = size - len(small.read_bytes()) - 200
    document["blobs"].append({"$bytes": char * padding})
    path = tmp_path / "padded.json"
    path.write_text(json.dumps(document, ensure_ascii=char.isascii()), encoding="utf-8")
    return path


def test_a_recording_at_the_size_limit_is_read_under_the_memory_limit(tmp_path: Path, env: dict[str, str]) -> None:
    path = recording_with_blob(tmp_path, env, MAX_FILE_SIZE - 4096)
    assert MAX_FILE_SIZE - 2**20 < path.stat().st_size <= MAX_FILE_SIZE
    code, out, err, peak = smtpstep(tmp_path, env, "replay", str(path), "--transcript", str(tmp_path / "out.txt"))
    assert code == 0, err
    assert peak < RSS_LIMIT, f"{peak / 2**20:.0f} MiB"


def test_a_large_recording_that_is_not_ascii_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    path = recording_with_blob(tmp_path, env, MAX_NON_ASCII_SIZE + 4096, char="é")
    code, _, err, peak = smtpstep(tmp_path, env, "replay", str(path), "--transcript", str(tmp_path / "out.txt"))
    assert code == 2 and "not ASCII" in one_line(err)
    assert peak < RSS_LIMIT


def test_a_recording_with_too_many_values_is_refused_before_parsing(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "many.json"
    path.write_text('{"format": "smtpstep recording", "version": 2, "meta": {}, "views": [' + "[]," * MAX_VALUES
                    + '[]], "chunks": []}', encoding="ascii")
    code, _, err, peak = smtpstep(tmp_path, env, "replay", str(path), "--transcript", str(tmp_path / "out.txt"))
    assert code == 2 and f"more than {MAX_VALUES:,} values" in one_line(err)
    assert peak < RSS_LIMIT


@pytest.mark.parametrize("depth", [300, 50_000])
def test_a_recording_nested_too_deeply_is_refused(depth: int, tmp_path: Path, env: dict[str, str]) -> None:
    # 300: past the codec's 200 levels; 50,000: past what Python's JSON parser takes (RecursionError).
    path = tmp_path / "deep.json"
    path.write_text('{"format": "smtpstep recording", "version": 2, "meta": {}, "views": ['
                    + "[" * depth + "]" * depth + '], "chunks": []}', encoding="ascii")
    code, _, err, _ = smtpstep(tmp_path, env, "replay", str(path), "--transcript", str(tmp_path / "out.txt"))
    assert code == 2 and "the file is nested too deeply" in one_line(err), err


def test_a_recording_that_never_ends_is_read_no_further_than_the_limit(tmp_path: Path, env: dict[str, str]) -> None:
    code, _, err, peak = smtpstep(tmp_path, env, "replay", "/dev/zero", "--transcript", str(tmp_path / "out.txt"))
    assert code == 2 and f"larger than {MAX_FILE_SIZE // 2**20} MiB" in one_line(err)
    assert peak < RSS_LIMIT
