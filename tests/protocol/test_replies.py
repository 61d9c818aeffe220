"""The reply parser: shapes, chunking at every byte offset, limits, and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpstep.protocol.capabilities import Capabilities
from smtpstep.protocol.replies import MAX_LINE, MAX_LINES, ProtocolError, Reply, ReplyParser, enhanced_code
from tests.support.recorded_sessions import EHLO_NO_PIPELINING, EHLO_PLAIN, EHLO_TLS, SUBMISSION, receives

RECORDED = receives(SUBMISSION) + [EHLO_NO_PIPELINING, b"334 VXNlcm5hbWU6\r\n", b"250\r\n", b"421 4.3.2 Bye\r\n"]


def parse(data: bytes) -> list[Reply]:
    return ReplyParser().feed(data)


def test_a_single_line_reply_gives_its_code_and_text():
    assert parse(b"250 2.1.0 Ok\r\n") == [Reply(250, ("2.1.0 Ok",), "2.1.0")]


def test_a_multi_line_reply_is_one_reply_with_every_line():
    (reply,) = parse(b"250-mail.example.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
    assert reply.code == 250
    assert reply.lines == ("mail.example.test", "PIPELINING", "SIZE 1000")
    assert reply.text == "mail.example.test\nPIPELINING\nSIZE 1000"
    assert reply.first_line == "250 mail.example.test"


def test_a_reply_is_returned_only_once_its_last_line_is_complete():
    parser = ReplyParser()
    assert parser.feed(b"250-first\r\n250 last") == []
    assert parser.in_reply
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\n") == [Reply(250, ("first", "last"))]
    assert not parser.in_reply and parser.pending == b""


def test_several_replies_in_one_read_come_out_in_order():
    replies = parse(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go on\r\n")
    assert [r.code for r in replies] == [250, 250, 354]


def test_a_code_alone_without_text_is_a_reply():
    assert parse(b"250\r\n") == [Reply(250, ("",))]


def test_the_first_digit_classifies_the_reply():
    kinds = {code: (r.positive, r.intermediate, r.transient, r.permanent)
             for code in (250, 354, 451, 550) for r in parse(f"{code} x\r\n".encode())}
    assert kinds == {250: (True, False, False, False), 354: (False, True, False, False),
                     451: (False, False, True, False), 550: (False, False, False, True)}


@pytest.mark.parametrize("data", RECORDED, ids=range(len(RECORDED)))
def test_a_recorded_reply_split_at_every_byte_offset_gives_the_same_replies(data):
    expected = parse(data)
    assert expected
    for offset in range(1, len(data)):
        parser = ReplyParser()
        assert parser.feed(data[:offset]) + parser.feed(data[offset:]) == expected, offset


def test_every_recorded_reply_fed_one_byte_at_a_time_gives_the_same_replies():
    data = b"".join(RECORDED)
    parser = ReplyParser()
    replies = [r for i in range(len(data)) for r in parser.feed(data[i : i + 1])]
    assert replies == parse(data)
    assert len(replies) == len(RECORDED)


@pytest.mark.parametrize(
    ("line", "enhanced"),
    [
        (b"250 2.1.0 Ok", "2.1.0"),
        (b"550 5.1.1 <nobody@example.test>: unknown", "5.1.1"),
        (b"451 4.7.1 Try again later", "4.7.1"),
        (b"535 5.7.139 Authentication unsuccessful", "5.7.139"),
        (b"250 5.1.1 a class that disagrees with 250", None),
        (b"550 2.0.0 a class that disagrees with 550", None),
        (b"354 3.0.0 there is no class 3", None),
        (b"250 2.0.0Ok", None),
        (b"250 Ok 2.0.0", None),
        (b"250 2.1", None),
    ],
)
def test_an_enhanced_status_code_is_read_only_when_its_class_agrees_with_the_code(line, enhanced):
    (reply,) = parse(line + b"\r\n")
    assert reply.enhanced == enhanced
    assert enhanced_code(reply.code, reply.lines[0]) == enhanced


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello there\r\n", "not an SMTP reply"),
        (b"25 short\r\n", "not an SMTP reply"),
        (b"250_underscore\r\n", "not an SMTP reply"),
        (b"\r\n", "not an SMTP reply"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not an SMTP reply"),
        (b"199 too low\r\n", "outside 2xx-5xx"),
        (b"600 too high\r\n", "outside 2xx-5xx"),
        (b"000 zero\r\n", "outside 2xx-5xx"),
        (b"250-first\r\n550 second\r\n", "mixed codes 250 and 550"),
    ],
)
def test_a_malformed_reply_is_a_protocol_error_with_a_plain_message(data, words):
    with pytest.raises(ProtocolError) as error:
        parse(data)
    message = str(error.value)
    assert words in message
    assert "\n" not in message and "Traceback" not in message
    assert error.value.raw


def test_a_line_of_max_line_octets_is_accepted():
    line = b"250 " + b"x" * (MAX_LINE - 6) + b"\r\n"
    assert len(line) == MAX_LINE
    (reply,) = parse(line)
    assert len(reply.lines[0]) == MAX_LINE - 6


def test_a_line_longer_than_max_line_with_its_lf_is_refused():
    line = b"250 " + b"x" * (MAX_LINE - 5) + b"\r\n"
    assert len(line) == MAX_LINE + 1
    with pytest.raises(ProtocolError, match=f"longer than {MAX_LINE} octets"):
        parse(line)


def test_a_line_longer_than_max_line_without_lf_is_refused_as_soon_as_it_is_too_long():
    parser = ReplyParser()
    chunk = b"250 " + b"x" * 96
    fed = 0
    with pytest.raises(ProtocolError, match="RFC 5321 §4.5.3.1.5"):
        while True:
            parser.feed(chunk)
            fed += len(chunk)
            assert len(parser.pending) < MAX_LINE
            assert fed <= MAX_LINE + len(chunk)
    assert fed < MAX_LINE
    assert parser.pending == b""


def test_memory_stays_bounded_after_an_error_whatever_follows_it():
    for bad in (b"garbage\r\n", b"600 x\r\n", b"250-a\r\n251 b\r\n", b"x" * (MAX_LINE + 1)):
        parser = ReplyParser()
        with pytest.raises(ProtocolError):
            parser.feed(bad + b"y" * (10 * MAX_LINE))
        assert len(parser.pending) <= MAX_LINE
        assert not parser.in_reply


def test_a_reply_of_more_than_max_lines_lines_is_refused():
    parser = ReplyParser()
    assert parser.feed(b"250-line\r\n" * MAX_LINES) == []
    with pytest.raises(ProtocolError, match=f"more than {MAX_LINES} lines"):
        parser.feed(b"250-line\r\n")
    assert not parser.in_reply


def test_a_reply_of_exactly_max_lines_lines_is_accepted():
    (reply,) = parse(b"250-line\r\n" * (MAX_LINES - 1) + b"250 last\r\n")
    assert len(reply.lines) == MAX_LINES


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes_only_ever_raise_protocol_error(chunks):
    parser = ReplyParser()
    for chunk in chunks:
        try:
            replies = parser.feed(chunk)
        except ProtocolError as error:
            assert str(error)
            continue
        for reply in replies:
            assert 200 <= reply.code <= 599
        assert len(parser.pending) <= MAX_LINE


@given(st.lists(st.sampled_from([b"250", b"-", b" ", b"\r", b"\n", b"2.0.0", b"x", b"550", b"\xff"]), max_size=40))
def test_reply_shaped_fragments_only_ever_raise_protocol_error(parts):
    try:
        ReplyParser().feed(b"".join(parts))
    except ProtocolError:
        pass


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40)


@given(st.integers(200, 599), st.lists(_text, min_size=1, max_size=5))
def test_a_reply_rendered_with_to_bytes_parses_back_to_itself(code, lines):
    reply = Reply(code, tuple(lines), enhanced_code(code, lines[0]))
    assert parse(reply.to_bytes()) == [reply]


def test_to_bytes_marks_every_line_but_the_last_with_a_hyphen():
    assert Reply(250, ("a", "b", "c")).to_bytes() == b"250-a\r\n250-b\r\n250 c\r\n"


def test_an_ehlo_reply_with_auth_in_both_forms_lists_each_mechanism_once():
    (reply,) = parse(EHLO_TLS)
    caps = Capabilities.from_reply(reply)
    assert caps.domain == "mail.example.test"
    assert caps.auth_mechanisms == ("PLAIN", "LOGIN", "CRAM-MD5")
    assert caps.size_limit == 10240000
    assert "pipelining" in caps and "STARTTLS" not in caps
    (plain,) = parse(EHLO_PLAIN)
    assert "STARTTLS" in Capabilities.from_reply(plain)


def test_the_old_auth_equals_form_alone_still_lists_its_mechanisms():
    (reply,) = parse(b"250-mail.example.test\r\n250-AUTH=LOGIN PLAIN\r\n250 SIZE\r\n")
    caps = Capabilities.from_reply(reply)
    assert caps.auth_mechanisms == ("LOGIN", "PLAIN")
    assert caps.size_limit == 0
