"""Loading lesson files: the model, and a clear error naming the file, line and field for a broken one."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from smtpstep.protocol.commands import Ehlo, MailFrom, Quit, RcptTo
from smtpstep.protocol.lessons.loader import load, parse
from smtpstep.protocol.lessons.model import LessonError, step_kind
from tests.support.env import REPO

GOOD = '''\
title = "A test lesson"
summary = "One line"
goal = "What it shows."

[session]
security = "none"

[[step]]
kind = "connect"
say = "Connect (RFC 5321 §3.1)."

[[step]]
kind = "greeting"
expect = "220"
say = "The greeting (RFC 5321 §3.1)."
'''


def _error(text: str, name: str = "broken") -> LessonError:
    with pytest.raises(LessonError) as caught:
        parse(text.encode(), name=name, source=f"{name}.toml")
    return caught.value


def test_a_good_file_loads_into_one_part_with_its_steps():
    lesson = parse(GOOD.encode(), name="good", source="good.toml")
    assert lesson.name == "good" and lesson.scenario == "normal" and len(lesson.parts) == 1
    part = lesson.parts[0]
    assert [note.kind for note in part.steps] == ["connect", "greeting"]
    assert part.steps[1].expect == ("220",) and part.session.security == "none"


def test_a_toml_syntax_error_names_the_file_and_line():
    error = _error(GOOD.replace('security = "none"', 'security "none"'))
    assert error.line == 6 and str(error).startswith("broken.toml, line 6: this is not valid TOML")


def test_an_unknown_step_kind_names_the_line_and_the_field():
    error = _error(GOOD.replace('kind = "greeting"', 'kind = "greting"'))
    assert error.line == 13 and error.where == "step 2, “kind”"
    assert "“greting” is not a kind of step" in str(error) and str(error).startswith("broken.toml, line 13:")


def test_a_malformed_expected_reply_names_its_line():
    error = _error(GOOD.replace('expect = "220"', 'expect = "22O"'))
    assert error.line == 14 and "“22O” is not a reply code" in str(error)


def test_a_missing_narration_names_the_step_table():
    error = _error(GOOD.replace('say = "The greeting (RFC 5321 §3.1)."\n', ""))
    assert error.line == 12 and "“say” is missing" in str(error) and "step 2" in str(error)


def test_a_misspelt_key_is_refused_rather_than_ignored():
    error = _error(GOOD.replace('security = "none"', 'securty = "none"'))
    assert error.line == 6 and error.where == "[session], “securty”" and "unknown field" in str(error)


def test_a_wrong_value_in_the_session_table_names_its_line():
    error = _error(GOOD.replace('security = "none"', 'security = "ssl"'))
    assert error.line == 6 and "“ssl” is not a security setting" in str(error)
    error = _error(GOOD.replace('security = "none"', 'to = "teacher@example.test"'))
    assert error.line == 6 and "list of addresses" in str(error)
    error = _error(GOOD.replace('security = "none"', 'to = ["not an address"]'))
    assert error.line == 6 and "“to”" in str(error)


def test_an_error_inside_a_part_names_the_part_step_and_line():
    text = GOOD.replace("[[step]]", "[[part.step]]").replace("[session]", '[[part]]\ntitle = "One"\n[part.session]')
    text = text.replace('kind = "connect"', 'kind = "connect"\nfailure = "kaboom"')
    error = _error(text)
    assert error.where == "part 1, step 1, “failure”" and error.line == 12


def test_a_part_session_override_is_located_in_the_part():
    text = GOOD.replace("[[step]]", "[[part.step]]")
    text = text.replace("[session]\n", "[session]\n").replace('security = "none"\n', 'security = "none"\n\n[[part]]\n'
                                                              'title = "One"\nsession = { security = "x" }\n')
    error = _error(text)
    assert error.where == "part 1, [session], “security”" and error.line == 10  # the inline table's line


def test_exact_sending_needs_a_raw_message_that_ends_with_crlf_dot_crlf():
    error = _error(GOOD.replace('security = "none"', 'exact = true'))
    assert "give raw_message too" in str(error)
    error = _error(GOOD.replace('security = "none"', 'exact = true\nraw_message = "Subject: x\\r\\n\\r\\nhi\\r\\n"'))
    assert "CRLF.CRLF" in str(error) and error.where.endswith("“raw_message”")


def test_a_long_summary_is_refused_because_the_listing_shows_one_line():
    error = _error(GOOD.replace('"One line"', '"' + "x" * 120 + '"'))
    assert error.line == 2 and "one line" in str(error)


def test_a_file_that_is_not_utf8_names_the_line():
    with pytest.raises(LessonError) as caught:
        parse(GOOD.encode() + b"# caf\xe9\n", name="latin", source="latin.toml")
    assert caught.value.line == 16


def test_an_unknown_name_lists_the_lessons_and_a_missing_file_says_so(tmp_path):
    with pytest.raises(LessonError, match="`smtpstep lessons` lists them: basic"):
        load("no-such-lesson")
    with pytest.raises(LessonError, match="there is no such lesson file"):
        load(tmp_path / "missing.toml")


def test_a_user_file_loads_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load(str(path)).name == "mine"


def test_narration_is_keyed_by_step_and_only_given_for_the_step_the_lesson_expects():
    lesson = parse(GOOD.encode(), name="good", source="good.toml")
    from smtpstep.protocol.commands import Connect, ReadGreeting

    assert lesson.narration_for(0, Connect()) == "Connect (RFC 5321 §3.1)."
    assert lesson.narration_for(1, ReadGreeting()) == "The greeting (RFC 5321 §3.1)."
    assert lesson.narration_for(1, Ehlo("x.test")) is None  # the student edited the queue
    assert lesson.narration_for(7, Quit()) is None


def test_a_pipelined_group_has_a_joined_kind():
    assert step_kind((MailFrom("a@b.test"), RcptTo("c@d.test"), RcptTo("e@f.test"))) == "mail+rcpt+rcpt"


def test_apply_sets_the_session_and_refuses_a_real_server():
    from smtpstep.app.cli import build_parser
    from smtpstep.app.session.options import settings_from_args

    settings = settings_from_args(build_parser().parse_args(["run", "--lesson", "bad-password", "--to", "x@y.test"]))
    assert settings.lesson is not None and settings.lesson.name == "bad-password"
    assert settings.user == "student" and settings.password == "not-the-password"
    assert settings.rcpt_tos == ("teacher@example.test",)  # the lesson decides the envelope
    plan = settings.plan(date="Mon, 1 Jan 2024 00:00:00 +0000", message_id="<x@y>")
    assert plan.mechanism == "PLAIN"
    with pytest.raises(LessonError, match="built-in server only"):
        __import__("dataclasses").replace(settings, server="smtp.example.com").for_lesson(settings.lesson)


def test_the_documented_example_is_a_valid_lesson():
    text = (REPO / "docs" / "lessons.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    lesson = parse(example.encode(), name="knock", source="docs/lessons.md")
    assert [part.exit for part in lesson.parts] == [9, 0]


def test_the_lessons_module_imports_no_io_clock_or_ui():
    code = ("import sys, json, smtpstep.protocol.lessons.loader\n"
            "print(json.dumps(sorted(m for m in ('asyncio', 'ssl', 'socket', 'textual', 'aiosmtpd') "
            "if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"
