"""Session options, in process: parsing, defaults, credentials, checks, and what settings produce."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from smtpstep.app.session.options import add_session_options, password_forms, settings_from_args
from smtpstep.app.session.settings import DEFAULT_BODY, SessionSettings, UsageError
from smtpstep.protocol.commands import MessageBody
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER

DATE = "Sat, 28 Nov 2026 09:00:00 +0000"
MSGID = "<1@client.smtpstep.test>"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_session_options(parser)
    return parser.parse_args(list(argv))


def no_prompt(prompt: str) -> str:
    raise AssertionError(f"unexpected password prompt: {prompt}")


def settings(*argv: str, environ: dict[str, str] | None = None, ask=no_prompt) -> SessionSettings:  # type: ignore[no-untyped-def]
    return settings_from_args(parse(*argv), environ=environ or {}, ask_password=ask)


# --- Defaults and credentials ---------------------------------------------------------------------


def test_defaults_use_the_builtin_server_over_starttls_with_the_demo_account() -> None:
    s = settings()

    assert s.builtin and s.server is None
    assert s.security == "starttls"
    assert (s.user, s.password) == (DEMO_USER, DEMO_PASSWORD) == ("student", "classroom")
    assert s.mail_from == "student@client.smtpstep.test"
    assert s.rcpt_tos == ("teacher@example.test",)
    assert s.subject == "Hello from smtpstep"
    assert s.style == "textbook" and not s.show_secrets and s.quit_after is None and s.timeout is None


def test_the_demo_credentials_match_the_builtin_server() -> None:
    from smtpstep.protocol.server import server as local_server

    assert (DEMO_USER, DEMO_PASSWORD) == (local_server.DEMO_USER, local_server.DEMO_PASSWORD)


def test_the_default_body_has_a_line_that_starts_with_a_dot() -> None:
    assert any(line.startswith(".") for line in DEFAULT_BODY.splitlines())
    plan = settings().plan(date=DATE, message_id=MSGID)
    assert MessageBody(plan.message).stuffed_lines == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_the_builtin_server_with_tls_logs_in_without_asking(security: str) -> None:
    s = settings("--security", security, environ={"SMTPSTEP_PASSWORD": "from-env"})
    assert (s.user, s.password) == ("student", "classroom")


def test_the_builtin_server_without_tls_sends_no_auth() -> None:
    s = settings("--security", "none")
    assert (s.user, s.password) == (None, None)


def test_user_on_the_builtin_server_without_tls_is_refused() -> None:
    with pytest.raises(UsageError, match="only after TLS"):
        settings("--security", "none", "--user", "student")


def test_a_real_server_takes_the_password_from_the_environment() -> None:
    s = settings("--server", "smtp.example.com", "--user", "bob", environ={"SMTPSTEP_PASSWORD": "s3cret!"})
    assert (s.user, s.password) == ("bob", "s3cret!")


def test_a_real_server_asks_for_the_password_when_the_environment_has_none() -> None:
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "typed"

    s = settings("--server", "smtp.example.com", "--user", "bob", ask=ask)
    assert s.password == "typed"
    assert asked == ["Password for bob: "]


def test_no_terminal_to_ask_on_is_a_usage_error_naming_the_variable() -> None:
    def ask(prompt: str) -> str:
        raise EOFError

    with pytest.raises(UsageError, match="SMTPSTEP_PASSWORD"):
        settings("--server", "smtp.example.com", "--user", "bob", ask=ask)


def test_an_empty_password_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="empty"):
        settings("--server", "smtp.example.com", "--user", "bob", ask=lambda prompt: "")


def test_a_real_server_without_user_sends_no_auth_and_asks_nothing() -> None:
    s = settings("--server", "smtp.example.com", environ={"SMTPSTEP_PASSWORD": "ignored"})
    assert (s.user, s.password) == (None, None)


def test_auth_without_tls_to_a_real_server_needs_explicit_consent() -> None:
    with pytest.raises(UsageError, match="--allow-cleartext-auth"):
        settings("--server", "mx.example.com", "--security", "none", "--user", "bob",
                 environ={"SMTPSTEP_PASSWORD": "x"})
    s = settings("--server", "mx.example.com", "--security", "none", "--user", "bob", "--allow-cleartext-auth",
                 environ={"SMTPSTEP_PASSWORD": "x"})
    assert s.allow_cleartext_auth and s.target().allow_cleartext_auth


def test_there_is_no_password_flag() -> None:
    with pytest.raises(SystemExit):
        parse("--password", "x")


def test_the_password_is_not_in_the_repr() -> None:
    s = settings("--server", "smtp.example.com", "--user", "bob", environ={"SMTPSTEP_PASSWORD": "hunter2hunter2"})
    assert "hunter2hunter2" not in repr(s)
    assert "hunter2hunter2" not in s.describe()


def test_password_forms_cover_plain_and_login_base64() -> None:
    forms = password_forms("student", "classroom")
    assert set(forms) == {"classroom", "AHN0dWRlbnQAY2xhc3Nyb29t", "Y2xhc3Nyb29t"}
    assert "ab" not in password_forms("u", "ab")  # too short to blank out on its own


# --- Server, port and security --------------------------------------------------------------------


@pytest.mark.parametrize(("server", "security", "expected"), [
    ("smtp.example.com", "starttls", ("smtp.example.com", 587)),
    ("smtp.example.com", "tls", ("smtp.example.com", 465)),
    ("smtp.example.com", "none", ("smtp.example.com", 25)),
    ("smtp.example.com:2525", "starttls", ("smtp.example.com", 2525)),
    ("127.0.0.1:8587", "tls", ("127.0.0.1", 8587)),
    ("[::1]:587", "none", ("::1", 587)),
    ("[2001:db8::1]", "tls", ("2001:db8::1", 465)),
    ("::1", "starttls", ("::1", 587)),
])
def test_host_port_parses_names_ports_and_ipv6(server: str, security: str, expected: tuple[str, int]) -> None:
    assert settings("--server", server, "--security", security).host_port() == expected


@pytest.mark.parametrize(("server", "words"), [
    ("smtp.example.com:0", "outside 1 to 65535"),
    ("smtp.example.com:65536", "outside 1 to 65535"),
    ("smtp.example.com:smtp", "not a number"),
    (":25", "no host name"),
    ("[::1:25", "without closing"),
    ("[mail.example.com]:25", "not an IPv6 address"),
    ("2001:db8::1:25:x", "several colons"),
    ("user@smtp.example.com", "not a host name"),
])
def test_a_bad_server_is_one_plain_sentence(server: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        settings("--server", server)


@dataclass
class Running:
    """What settings read of a running built-in server."""

    ca_pem: bytes = b"PEM"

    def port_for(self, security: str) -> int:
        return {"starttls": 8587, "tls": 8465, "none": 8025}[security]


def test_describe_is_one_line_without_secrets() -> None:
    assert settings().describe() == "built-in server (STARTTLS)"
    assert settings("--security", "tls").describe() == "built-in server (implicit TLS)"
    assert settings("--server", "smtp.example.com").describe() == "smtp.example.com:587 STARTTLS"
    assert settings("--server", "[::1]:2525", "--security", "none").describe() == "[::1]:2525 no TLS"
    assert settings().describe(Running()) == "built-in server (STARTTLS) 127.0.0.1:8587"  # type: ignore[arg-type]
    target = settings("--security", "tls").target(Running())  # type: ignore[arg-type]
    assert (target.host, target.port, target.sni, target.ca_pem, target.builtin) == (
        "127.0.0.1", 8465, "localhost", b"PEM", True)


def test_a_display_name_stands_in_for_the_address_but_the_session_still_goes_there() -> None:
    named = replace(settings(), display_name="localhost")
    assert named.describe(Running()) == "built-in server (STARTTLS) localhost"  # type: ignore[arg-type]
    target = named.target(Running())  # type: ignore[arg-type]
    assert (target.shown, target.address) == ("localhost", "127.0.0.1:8587")
    assert settings().target(Running()).shown == "127.0.0.1:8587"  # type: ignore[arg-type]
    real = replace(settings("--server", "smtp.example.com"), display_name="the school's server")
    assert real.describe() == "the school's server STARTTLS"
    assert (real.target().shown, real.target().address) == ("the school's server", "smtp.example.com:587")


def test_the_builtin_target_needs_the_running_server() -> None:
    with pytest.raises(ValueError):
        settings().target()


def test_a_real_target_carries_security_ca_insecure_and_timeout(tmp_path: Path) -> None:
    ca = write_ca(tmp_path)
    t = settings("--server", "mail.example.org:2465", "--security", "tls", "--ca", str(ca), "--insecure",
                 "--timeout", "2.5").target()
    assert (t.host, t.port, t.security, t.ca_file, t.insecure, t.timeout, t.builtin) == (
        "mail.example.org", 2465, "tls", ca, True, 2.5, False)
    assert t.sni == "mail.example.org"


# --- Field checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--subject", "--helo", "--server", "--user"])
@pytest.mark.parametrize("char", ["\r", "\n"])
def test_cr_or_lf_in_any_field_is_refused(flag: str, char: str) -> None:
    with pytest.raises(UsageError, match="CR|LF|carriage|line feed"):
        settings(flag, f"a{char}b", "--server" if flag != "--server" else "--security",
                 "smtp.example.com" if flag != "--server" else "starttls",
                 environ={"SMTPSTEP_PASSWORD": "x"})


@pytest.mark.parametrize("flag", ["--from", "--to"])
@pytest.mark.parametrize("address", ["no-at-sign", "a b@example.test", "<>", "x@example.test\r\nRSET"])
def test_bad_addresses_are_refused(flag: str, address: str) -> None:
    with pytest.raises(UsageError):
        settings(flag, address)


def test_angle_brackets_around_an_address_are_accepted_and_dropped() -> None:
    s = settings("--from", "<me@example.test>", "--to", "<you@example.test>")
    assert (s.mail_from, s.rcpt_tos) == ("me@example.test", ("you@example.test",))


def test_several_recipients_by_repeating_or_listing() -> None:
    assert settings("--to", "a@example.test", "--to", "b@example.test").rcpt_tos == ("a@example.test",
                                                                                   "b@example.test")
    assert settings("--to", "a@example.test", "b@example.test").rcpt_tos == ("a@example.test", "b@example.test")


def test_a_non_ascii_address_turns_on_smtputf8() -> None:
    s = settings("--to", "lehrerin@schule.test", "--from", "schüler@example.test")
    assert s.smtputf8 and s.plan(date=DATE, message_id=MSGID).smtputf8
    assert not settings().smtputf8


def test_helo_must_be_one_word() -> None:
    with pytest.raises(UsageError, match="one word"):
        settings("--helo", "two words")


@pytest.mark.parametrize("value", ["0", "-1", "100000"])
def test_a_timeout_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        settings("--timeout", value)


def write_ca(folder: Path) -> Path:
    import trustme

    path = folder / "ca.pem"
    path.write_bytes(trustme.CA().cert_pem.bytes())
    return path


def test_ca_must_be_a_readable_pem_certificate(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        settings("--ca", str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    with pytest.raises(UsageError, match="no PEM certificate"):
        settings("--ca", str(junk))
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(UsageError, match="cannot be loaded"):
        settings("--ca", str(broken))
    assert settings("--ca", str(write_ca(tmp_path))).ca_file == tmp_path / "ca.pem"


def test_body_file_is_read_as_utf8_and_must_exist(tmp_path: Path) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Grüße\n.dot\n", encoding="utf-8")
    assert settings("--body-file", str(body)).body == "Grüße\n.dot\n"
    with pytest.raises(UsageError, match="no such file"):
        settings("--body-file", str(tmp_path / "missing.txt"))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Grüße".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        settings("--body-file", str(latin))


def test_body_and_body_file_together_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse("--body", "x", "--body-file", "y")


def test_transcript_must_be_a_known_format_in_an_existing_folder(tmp_path: Path) -> None:
    assert settings("--transcript", str(tmp_path / "t.txt")).transcript == tmp_path / "t.txt"
    assert settings("--transcript", str(tmp_path / "t.json")).transcript == tmp_path / "t.json"
    with pytest.raises(UsageError, match=r"\.txt"):
        settings("--transcript", str(tmp_path / "t.pdf"))
    with pytest.raises(UsageError, match="does not exist"):
        settings("--transcript", str(tmp_path / "nowhere" / "t.txt"))


def test_quit_after_and_style_are_limited_to_known_names() -> None:
    assert settings("--quit-after", "rcpt", "--style", "swaks").quit_after == "rcpt"
    with pytest.raises(SystemExit):
        parse("--quit-after", "breakfast")
    with pytest.raises(SystemExit):
        parse("--style", "fancy")


# --- What settings produce ------------------------------------------------------------------------


def test_plan_builds_the_message_and_carries_envelope_and_policy() -> None:
    s = settings("--subject", "Unit test", "--body", "Hi\n", "--to", "x@example.test", "--quit-after", "mail")
    plan = s.plan(date=DATE, message_id=MSGID)

    assert plan.security == "starttls"
    assert (plan.username, plan.password) == ("student", "classroom")
    assert plan.mail_from == "student@client.smtpstep.test" and plan.rcpt_tos == ("x@example.test",)
    assert plan.quit_after == "mail"
    assert b"Subject: Unit test\r\n" in plan.message
    assert f"Date: {DATE}\r\n".encode() in plan.message
    assert f"Message-ID: {MSGID}\r\n".encode() in plan.message
    assert plan.message.endswith(b"\r\nHi\r\n")


def test_settings_from_a_namespace_with_only_some_flags_use_defaults() -> None:
    s = settings_from_args(argparse.Namespace(security="tls"), environ={}, ask_password=no_prompt)
    assert s.security == "tls" and s.builtin and s.user == "student"
