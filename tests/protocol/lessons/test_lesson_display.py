"""What a lesson file says about its display and its new kinds of step: ``line_ends`` (line-end marks from
the start), the ``bdat`` session key, and the ``bdat``, ``bdat-last`` and ``expn`` steps."""

from __future__ import annotations

import pytest

from smtpstep.protocol.commands import Bdat, Expn
from smtpstep.protocol.lessons.loader import load, parse
from smtpstep.protocol.lessons.model import LessonError, step_kind
from smtpstep.protocol.planner import SessionPlan

HEAD = 'title = "t"\nsummary = "s"\ngoal = "g"\n'
STEP = '[[step]]\nkind = "connect"\nsay = "hello"\n'


def test_the_smuggling_lesson_shows_line_ends_from_the_start_and_the_others_do_not() -> None:
    # Its message keeps bare LFs on purpose (exact = true): they are what the lesson is about.
    assert load("smtp-smuggling").shows_line_ends
    assert not load("basic").shows_line_ends


@pytest.mark.parametrize(("line", "shown"), [("line_ends = true\n", True), ("line_ends = false\n", False)])
def test_line_ends_says_it_outright(line: str, shown: bool) -> None:
    assert parse((HEAD + line + STEP).encode(), name="x", source="x.toml").shows_line_ends is shown


def test_line_ends_must_be_true_or_false_and_the_error_names_the_line() -> None:
    with pytest.raises(LessonError) as refused:
        parse((HEAD + 'line_ends = "yes"\n' + STEP).encode(), name="x", source="x.toml")
    assert refused.value.line == 4 and "true or false" in str(refused.value)


def test_a_lesson_can_send_its_message_in_bdat_chunks() -> None:
    lesson = parse((HEAD + "[session]\nbdat = 100\n" + STEP).encode(), name="x", source="x.toml")
    assert lesson.plan(SessionPlan()).bdat == 100


def test_bdat_and_an_exact_message_do_not_go_together() -> None:
    text = HEAD + '[session]\nbdat = 0\nexact = true\nraw_message = "Subject: x\\r\\n\\r\\nhi\\r\\n.\\r\\n"\n' + STEP
    with pytest.raises(LessonError) as refused:
        parse(text.encode(), name="x", source="x.toml")
    assert "bdat" in str(refused.value)


def test_bdat_and_expn_steps_have_their_own_kinds() -> None:
    assert step_kind(Bdat(b"x")) == "bdat" and step_kind(Bdat(b"x", last=True)) == "bdat-last"
    assert step_kind(Expn("staff")) == "expn"
    text = HEAD + "".join(f'[[step]]\nkind = "{kind}"\nsay = "s"\n' for kind in ("bdat", "bdat-last", "expn"))
    assert [s.kind for s in parse(text.encode(), name="x", source="x.toml").part().steps] == ["bdat", "bdat-last",
                                                                                               "expn"]


def test_a_part_can_find_its_server_in_the_lesson_zone_and_probe_before_mail() -> None:
    from smtpstep.protocol.commands import DnsLookup, Vrfy
    from smtpstep.protocol.transport.wire import Target

    text = HEAD + '[session]\nmx = true\nprobes = ["VRFY nobody@example.test", "EXPN staff"]\n' + \
        "".join(f'[[step]]\nkind = "{kind}"\nsay = "s"\n' for kind in ("dns-mx", "dns-a", "dns-aaaa", "vrfy"))
    lesson = parse(text.encode(), name="x", source="x.toml")
    assert [s.kind for s in lesson.part().steps] == ["dns-mx", "dns-a", "dns-aaaa", "vrfy"]
    assert lesson.plan(SessionPlan()).probes == (Vrfy("nobody@example.test"), Expn("staff"))
    assert lesson.target(Target("127.0.0.1", 2525)).dns == "zone"
    assert step_kind(DnsLookup("example.test")) == "dns-mx" and step_kind(DnsLookup("mx.test", "AAAA")) == "dns-aaaa"


@pytest.mark.parametrize(("probes", "said"), [
    ('["MAIL FROM:<a@b.test>"]', "is not VRFY, EXPN, NOOP or HELP"),
    ('["VRFY"]', "is not VRFY, EXPN, NOOP or HELP"),
    ('"VRFY student"', "a list of command lines"),
    ('["VRFY a\\r\\nQUIT"]', "carriage return"),
    ("[" + ", ".join(['"NOOP"'] * 21) + "]", "at most 20 command lines"),
])
def test_a_probe_that_is_not_a_harmless_command_is_refused_naming_its_line(probes: str, said: str) -> None:
    with pytest.raises(LessonError) as refused:
        parse((HEAD + f"[session]\nprobes = {probes}\n" + STEP).encode(), name="x", source="x.toml")
    assert refused.value.line == 5 and said in str(refused.value)
