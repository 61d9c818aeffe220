"""Commands: the exact bytes of each, the fields that are refused, dot-stuffing and redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpstep.protocol.command_parser import parse_command
from smtpstep.protocol.commands import (
    AUTH_LINE_LIMIT,
    COMMAND_LINE_LIMIT,
    Auth,
    AuthResponse,
    Connect,
    Data,
    Ehlo,
    Helo,
    Help,
    InvalidCommand,
    MailFrom,
    MessageBody,
    Noop,
    Outgoing,
    Quit,
    Raw,
    RcptTo,
    ReadGreeting,
    Rset,
    StartTls,
    TlsHandshake,
    Verb,
    Vrfy,
)
from smtpstep.protocol.message import build_message

EXACT = [
    (Ehlo("client.example.test"), b"EHLO client.example.test\r\n"),
    (Helo("client.example.test"), b"HELO client.example.test\r\n"),
    (StartTls(), b"STARTTLS\r\n"),
    (Auth("PLAIN", "student", "s3cret"), b"AUTH PLAIN AHN0dWRlbnQAczNjcmV0\r\n"),
    (Auth("login", "student", "s3cret"), b"AUTH LOGIN\r\n"),
    (Auth("CRAM-MD5", "student", "s3cret"), b"AUTH CRAM-MD5\r\n"),
    (AuthResponse("c3R1ZGVudA=="), b"c3R1ZGVudA==\r\n"),
    (AuthResponse("*", secret=False), b"*\r\n"),
    (MailFrom("student@client.example.test"), b"MAIL FROM:<student@client.example.test>\r\n"),
    (MailFrom("<student@client.example.test>"), b"MAIL FROM:<student@client.example.test>\r\n"),
    (MailFrom(""), b"MAIL FROM:<>\r\n"),
    (MailFrom("<>"), b"MAIL FROM:<>\r\n"),
    (MailFrom("a@b.test", size=1234), b"MAIL FROM:<a@b.test> SIZE=1234\r\n"),
    (MailFrom("a@b.test", size=0, body_8bit=True, smtputf8=True),
     b"MAIL FROM:<a@b.test> SIZE=0 BODY=8BITMIME SMTPUTF8\r\n"),
    (MailFrom("élève@b.test", smtputf8=True), "MAIL FROM:<élève@b.test> SMTPUTF8\r\n".encode()),
    (RcptTo("teacher@example.test"), b"RCPT TO:<teacher@example.test>\r\n"),
    (RcptTo('"a..b"@example.test'), b'RCPT TO:<"a..b"@example.test>\r\n'),
    (Data(), b"DATA\r\n"),
    (Rset(), b"RSET\r\n"),
    (Noop(), b"NOOP\r\n"),
    (Vrfy("teacher"), b"VRFY teacher\r\n"),
    (Help(), b"HELP\r\n"),
    (Help("MAIL"), b"HELP MAIL\r\n"),
    (Quit(), b"QUIT\r\n"),
    (Raw("XCLIENT NAME=spike"), b"XCLIENT NAME=spike\r\n"),
    (Connect(), b""),
    (ReadGreeting(), b""),
    (TlsHandshake(), b""),
]


@pytest.mark.parametrize(("command", "wire"), EXACT, ids=[w.decode("utf-8")[:30] for _, w in EXACT])
def test_each_command_renders_its_exact_bytes(command, wire):
    assert command.render().data == wire


# -- fields that would split the line ------------------------------------------------------------------

BAD_CHARACTERS = ["\r", "\n", "\0"]

FIELD_BUILDERS = {
    "EHLO name": lambda bad: Ehlo(f"client{bad}.test"),
    "HELO name": lambda bad: Helo(f"client{bad}.test"),
    "MAIL address": lambda bad: MailFrom(f"a{bad}@b.test"),
    "MAIL domain": lambda bad: MailFrom(f"a@b.test{bad}"),
    "RCPT address": lambda bad: RcptTo(f"a@b.test>{bad}DATA"),
    "VRFY argument": lambda bad: Vrfy(f"teacher{bad}"),
    "HELP argument": lambda bad: Help(f"MAIL{bad}"),
    "raw line": lambda bad: Raw(f"NOOP{bad}QUIT"),
    "typed line": lambda bad: parse_command(f"NOOP{bad}QUIT"),
    "AUTH user": lambda bad: Auth("PLAIN", f"student{bad}", "s3cret"),
    "AUTH password": lambda bad: Auth("LOGIN", "student", f"s3{bad}cret"),
    "AUTH response": lambda bad: AuthResponse(f"abc{bad}"),
    "message subject": lambda bad: build_message(
        sender="a@b.test", recipients=["c@d.test"], subject=f"hi{bad}Bcc: x@y.test", body="b",
        date="Mon, 01 Jan 2024 00:00:00 +0000", message_id="<1@b.test>"),
}


@pytest.mark.parametrize("bad", BAD_CHARACTERS, ids=["CR", "LF", "NUL"])
@pytest.mark.parametrize("field", list(FIELD_BUILDERS))
def test_cr_lf_and_nul_are_refused_in_every_user_given_field(field, bad):
    with pytest.raises(InvalidCommand) as error:
        FIELD_BUILDERS[field](bad)
    assert "RFC 5321 §2.3.8" in str(error.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda n: Ehlo("h" * n),
        lambda n: Helo("h" * n),
        lambda n: Vrfy("v" * n),
        lambda n: Help("h" * n),
        lambda n: Raw("X" * n),
        lambda n: parse_command("NOOP " + "x" * n),
    ],
    ids=["EHLO", "HELO", "VRFY", "HELP", "raw", "typed"],
)
def test_a_command_line_over_512_octets_is_refused_when_the_command_is_made(build):
    with pytest.raises(InvalidCommand, match="512"):
        build(COMMAND_LINE_LIMIT)
    command = build(100)
    assert len(command.render().data) <= COMMAND_LINE_LIMIT


def test_a_command_line_of_exactly_512_octets_is_accepted():
    raw = Raw("X" * (COMMAND_LINE_LIMIT - 2))
    assert len(raw.render().data) == COMMAND_LINE_LIMIT


def test_a_path_over_rfc_5321_limits_is_refused():
    with pytest.raises(InvalidCommand, match="too long"):
        RcptTo("a" * 65 + "@example.test")
    with pytest.raises(InvalidCommand, match="too long"):
        MailFrom("a@" + "d" * 256)


@pytest.mark.parametrize("address", ["", "<>", "nobody", "@example.test", "a@", "a b@example.test", "a(b)@c.test"])
def test_a_recipient_that_is_not_a_mailbox_is_refused(address):
    with pytest.raises(InvalidCommand):
        RcptTo(address)


def test_a_non_ascii_sender_needs_smtputf8():
    with pytest.raises(InvalidCommand, match="SMTPUTF8"):
        MailFrom("élève@b.test")


def test_mail_from_lists_the_parameters_it_will_send():
    assert MailFrom("a@b.test").parameters == ()
    assert MailFrom("a@b.test", size=10, body_8bit=True, smtputf8=True).parameters == (
        "SIZE=10", "BODY=8BITMIME", "SMTPUTF8")


# -- dot-stuffing -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("content", "wire"),
    [
        (b"hello\r\n", b"hello\r\n.\r\n"),
        (b"hello", b"hello\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b".hidden\r\n..two\r\nnot.first\r\n", b"..hidden\r\n...two\r\nnot.first\r\n.\r\n"),
        (b"a\nb\rc\r\n", b"a\r\nb\r\nc\r\n.\r\n"),
        (b"a\n.\nb\n", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"smuggle\n.\r\nMAIL FROM:<x@y.test>\r\n", b"smuggle\r\n..\r\nMAIL FROM:<x@y.test>\r\n.\r\n"),
        (b"smuggle\r\n.\nMAIL\r\n", b"smuggle\r\n..\r\nMAIL\r\n.\r\n"),
        (b"a\r\n\r\n", b"a\r\n\r\n.\r\n"),
        (b"", b".\r\n"),
    ],
)
def test_the_message_is_dot_stuffed_with_crlf_only_and_ends_with_crlf_dot_crlf(content, wire):
    assert MessageBody(content).render().data == wire


def test_lines_that_start_with_a_dot_are_counted_and_bare_line_ends_noticed():
    body = MessageBody(b".one\r\ntwo\n.three\r\n")
    assert body.stuffed_lines == 2
    assert body.had_bare_line_ends
    assert not MessageBody(b"a\r\nb\r\n").had_bare_line_ends
    assert MessageBody(b"a\rb\r\n").had_bare_line_ends


def normalized(content: bytes) -> bytes:
    text = content.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    return text if not text or text.endswith(b"\r\n") else text + b"\r\n"


def unstuffed(wire: bytes) -> bytes:
    assert wire.endswith(b".\r\n")
    body = wire[: -len(b".\r\n")]
    if not body:
        return b""
    assert body.endswith(b"\r\n")
    lines = body[:-2].split(b"\r\n")
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


@given(st.lists(st.sampled_from([b".", b"..", b"\r", b"\n", b"\r\n", b"a", b"b c", b"\xc3\xa9", b" "]), max_size=30))
def test_unstuffing_the_rendered_message_gives_the_crlf_normalized_content(parts):
    content = b"".join(parts)
    wire = MessageBody(content).render().data
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    assert b"\r\n.\r\n" not in wire[:-3] and not wire[:-3].startswith(b".\r\n")
    without_crlf = wire.replace(b"\r\n", b"")
    assert b"\r" not in without_crlf and b"\n" not in without_crlf
    assert unstuffed(wire) == normalized(content)


@given(st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"x" * 997, b"y" * 999]), max_size=12))
def test_line_facts_are_those_of_the_normalized_lines(parts):
    # Content with CRLF line ends only is counted as it is (no normalized copy); any other the classic way.
    content = b"".join(parts)
    lines = MessageBody.normalized_lines(content)
    body = MessageBody(content)
    assert body.label.startswith(f"(the message: {len(lines):,} lines,")
    assert body.stuffed_lines == sum(line.startswith(b".") for line in lines)
    assert body.long_lines == tuple(i for i, line in enumerate(lines, 1) if len(line) > 998)


def test_long_lines_flags_lines_over_998_octets():
    body = MessageBody(b"short\r\n" + b"x" * 998 + b"\r\n" + b"y" * 999 + b"\r\nend")
    assert body.long_lines == (3,)
    assert MessageBody(b"short\r\n" + b"z" * 999).long_lines == (2,)  # the last line, with no line end
    assert MessageBody(b"a\n" + b"x" * 998 + b"\n").long_lines == ()


# -- secrets ----------------------------------------------------------------------------------------------

def test_redacted_masks_every_secret_span():
    out = Outgoing(b"AUTH PLAIN c2VjcmV0 and more c2VjcmV0\r\n", ((11, 19), (29, 37)))
    assert out.redacted() == b"AUTH PLAIN ******** and more ********\r\n"
    assert out.redacted(b"#") == b"AUTH PLAIN # and more #\r\n"
    assert Outgoing(b"NOOP\r\n").redacted() == b"NOOP\r\n"


def test_the_auth_plain_payload_is_a_secret_span_and_the_label_never_shows_the_password():
    auth = Auth("PLAIN", "student", "s3cret")
    out = auth.render()
    ((start, end),) = out.secrets
    assert out.data[start:end] == b"AHN0dWRlbnQAczNjcmV0"
    assert out.redacted() == b"AUTH PLAIN ********\r\n"
    assert auth.label == "AUTH PLAIN ********"
    assert "s3cret" not in auth.label and "s3cret" not in repr(auth)
    assert "AHN0dWRlbnQAczNjcmV0" not in auth.label


def test_an_auth_response_is_secret_and_labelled_by_what_it_carries():
    answer = AuthResponse("czNjcmV0", shown="the password, base64")
    assert answer.render().secrets == ((0, 8),)
    assert answer.label == "(the password, base64)"
    assert "czNjcmV0" not in repr(answer)
    assert AuthResponse("czNjcmV0").label == "********"


def test_auth_plain_too_long_for_one_line_is_sent_without_its_initial_response():
    # RFC 4954 §4: the client MUST NOT send an initial response that would push AUTH past 512 octets.
    auth = Auth("PLAIN", "student", "p" * 400)
    assert auth.render().data == b"AUTH PLAIN\r\n"
    assert auth.render().secrets == ()


def test_an_auth_response_may_be_longer_than_a_command_line_up_to_rfc_4954s_limit():
    assert len(AuthResponse("A" * 4000).render().data) == 4002
    with pytest.raises(InvalidCommand, match="RFC 4954"):
        AuthResponse("A" * AUTH_LINE_LIMIT)


def test_auth_refuses_a_mechanism_smtpstep_does_not_speak():
    with pytest.raises(InvalidCommand, match="GSSAPI"):
        Auth("GSSAPI", "u", "p")


# -- typed lines ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("EHLO client.example.test", Ehlo("client.example.test")),
        ("ehlo client.example.test", Ehlo("client.example.test")),
        ("HELO client.example.test", Helo("client.example.test")),
        ("  quit  ", Quit()),
        ("starttls", StartTls()),
        ("DATA", Data()),
        ("RSET", Rset()),
        ("NOOP", Noop()),
        ("VRFY teacher", Vrfy("teacher")),
        ("HELP", Help()),
        ("HELP MAIL", Help("MAIL")),
        ("MAIL FROM:<a@b.test>", MailFrom("a@b.test")),
        ("mail from: <a@b.test>", MailFrom("a@b.test")),
        ("MAIL FROM:<>", MailFrom("")),
        ("RCPT TO:<c@d.test>", RcptTo("c@d.test")),
    ],
)
def test_a_typed_line_becomes_the_matching_command(line, command):
    assert parse_command(line) == command


@pytest.mark.parametrize(
    ("line", "acts_as"),
    [
        ("MAIL FROM:<a@b.test> SIZE=10", Verb.MAIL),
        ("RCPT TO:<>", Verb.RCPT),
        ("EHLO", Verb.EHLO),
        ("AUTH PLAIN AHN0dWRlbnQAczNjcmV0", Verb.AUTH),
        ("QUIT now", Verb.QUIT),
        ("XCLIENT NAME=x", Verb.RAW),
        ("ETRN example.test", Verb.RAW),
    ],
)
def test_a_typed_line_that_is_no_well_formed_command_falls_back_to_raw(line, acts_as):
    command = parse_command(line)
    assert isinstance(command, Raw)
    assert command.line == line
    assert command.acts_as == acts_as
    assert command.render().data == line.encode() + b"\r\n"


def test_an_empty_typed_line_is_refused():
    with pytest.raises(InvalidCommand, match="empty"):
        parse_command("   ")


def test_a_hand_typed_auth_line_marks_its_credentials_secret() -> None:
    from smtpstep.protocol.commands import Raw

    raw = Raw("auth plain AHN0dWRlbnQAY2xhc3Nyb29t")
    out = raw.render()
    assert out.data == b"auth plain AHN0dWRlbnQAY2xhc3Nyb29t\r\n"
    assert out.redacted() == b"auth plain ********\r\n"
    assert "AHN0" not in raw.label


def test_an_empty_auth_answer_has_a_label_the_queue_can_show():
    from smtpstep.protocol.commands import AuthResponse

    assert AuthResponse("", secret=False, shown="an empty line: the client has read the error").label == \
        "(empty line)"
