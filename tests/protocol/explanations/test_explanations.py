"""The explanation catalog: coverage of every code, keyword and step the app must explain, and its shape."""

from __future__ import annotations

import ast
import enum
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpstep.protocol import explanations
from smtpstep.protocol.explanations import (
    STEPS,
    Explanation,
    ReplyExplanation,
    explain_code,
    explain_enhanced,
    explain_keyword,
    explain_reply,
    explain_step,
)
from smtpstep.protocol.explanations.situations import SITUATIONS
from smtpstep.protocol.replies import ReplyParser

RFC5321_CODES = (
    211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 455,
    500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555,
)  # fmt: skip
"""RFC 5321 §4.2.3, in numeric order."""
AUTH_CODES = (334, 235, 454, 530, 534, 535, 538, 432, 500)
"""RFC 4954 §4 and §6 (500 is the too-long AUTH line)."""
STARTTLS_CODES = (220, 454, 501, 530)
"""RFC 3207 §4."""
RFC7504_CODES = (521, 556)
ALL_CODES = tuple(sorted(set(RFC5321_CODES + AUTH_CODES + STARTTLS_CODES + RFC7504_CODES)))

ENHANCED_CODES = (
    "2.0.0", "2.1.0", "2.1.5", "2.7.0", "4.2.2", "4.3.0", "4.4.1", "4.4.2", "4.5.3", "4.7.0", "4.7.1",
    "5.1.1", "5.1.2", "5.1.3", "5.1.8", "5.2.1", "5.2.2", "5.3.4", "5.5.1", "5.5.2", "5.5.4", "5.7.0",
    "5.7.1", "5.7.8", "5.7.9", "5.7.11", "5.7.23", "5.7.26", "5.7.27",
)  # fmt: skip
"""The common codes listed in smtp-facts.md."""
SUBJECTS = {
    0: "other",
    1: "addressing",
    2: "mailbox",
    3: "mail system",
    4: "network and routing",
    5: "protocol",
    6: "content or media",
    7: "security or policy",
}
"""RFC 3463 §2 defines the subjects; subject X.n's details are in §3.(n+1)."""

KEYWORDS = (
    "PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "STARTTLS", "AUTH", "ENHANCEDSTATUSCODES", "CHUNKING",
    "BINARYMIME", "DSN", "HELP", "VRFY", "ETRN", "EXPN", "REQUIRETLS", "DELIVERBY",
)  # fmt: skip

REQUIRED_STEPS = (
    "connect", "greeting", "implicit-tls", "ehlo", "helo", "helo-fallback", "starttls", "tls-handshake",
    "ehlo-after-starttls", "auth-plain", "auth-login", "auth-cram-md5", "auth-challenge", "mail", "rcpt",
    "data", "message", "dot-stuffing", "rset", "noop", "vrfy", "help", "quit", "raw", "pipelining",
    "closed", "starttls-missing", "tls-verify-failed", "cleartext-auth-refused", "expn", "dns-lookup", "dns-failed",
    "bdat", "bdat-last", "auth-xoauth2", "auth-oauthbearer",
)  # fmt: skip

VERBS = (None, "GREETING", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "MESSAGE", "RSET",
         "NOOP", "VRFY", "HELP", "QUIT")  # fmt: skip

CITATION = re.compile(r"RFC \d+")
GENERIC_MARKERS = ("smtpstep has no entry", "unlisted code", "unknown extension", "smtpstep does not know")


def is_generic(explanation: Explanation) -> bool:
    """True for the fallback built from digits, subject or nothing, rather than a catalog entry."""
    said = f"{explanation.title} {explanation.text}"
    return any(marker in said for marker in GENERIC_MARKERS)


def sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if part]


def every_catalog_explanation() -> list[Explanation]:
    out = [explain_reply(code, verb=verb).meaning for code in ALL_CODES for verb in VERBS]
    out += [explain_enhanced(code) for code in ENHANCED_CODES]
    out += [explain_enhanced(f"{klass}.{subject}.999") for klass in (2, 4, 5) for subject in SUBJECTS]
    out += [explain_enhanced(code, code=reply) for code in ("4.7.1", "5.2.2", "4.1.1", "2.0.0", "5.9.9")
            for reply in (250, 451, 550, 334)]
    out += [explain_enhanced(f"5.{subject}.{detail}") for subject, detail in ((6, 8), (6, 9), (6, 10), (7, 30))]
    out += [Explanation(entry.title, entry.text, entry.rfc) for entry in SITUATIONS.values()]
    out += [explain_reply(code, verb=verb).meaning for code in (599, 222, 431) for verb in (None, "RCPT")]
    out += [explain_keyword(keyword) for keyword in KEYWORDS]
    out += [explain_step(step) for step in STEPS]
    return out


# --- coverage ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", RFC5321_CODES)
def test_every_rfc5321_reply_code_has_its_own_explanation(code: int) -> None:
    meaning = explain_code(code)
    assert meaning.title.startswith(f"{code}: ")
    assert not is_generic(meaning)


@pytest.mark.parametrize("code", AUTH_CODES)
def test_every_auth_reply_code_of_rfc4954_has_its_own_explanation_after_auth(code: int) -> None:
    meaning = explain_reply(code, verb="AUTH").meaning
    assert not is_generic(meaning)
    assert "RFC 4954" in meaning.rfc


@pytest.mark.parametrize("code", STARTTLS_CODES)
def test_every_starttls_reply_code_of_rfc3207_has_its_own_explanation_after_starttls(code: int) -> None:
    meaning = explain_reply(code, verb="STARTTLS").meaning
    assert not is_generic(meaning)
    assert "RFC 3207" in meaning.rfc


@pytest.mark.parametrize("code", RFC7504_CODES)
def test_reply_codes_521_and_556_have_their_own_explanation_citing_rfc_7504(code: int) -> None:
    meaning = explain_code(code)
    assert not is_generic(meaning)
    assert "RFC 7504" in meaning.rfc
    assert "does not accept mail" in meaning.title


@pytest.mark.parametrize("code", ENHANCED_CODES)
def test_every_common_enhanced_code_has_its_own_explanation(code: str) -> None:
    explanation = explain_enhanced(code)
    assert explanation is not None
    assert explanation.title.startswith(f"{code}: ")
    assert not is_generic(explanation)


@pytest.mark.parametrize("klass", (2, 4, 5))
@pytest.mark.parametrize("subject", sorted(SUBJECTS))
def test_every_enhanced_subject_is_explained_even_when_the_detail_is_unknown(klass: int, subject: int) -> None:
    explanation = explain_enhanced(f"{klass}.{subject}.999")
    assert explanation is not None
    assert SUBJECTS[subject] in explanation.title
    assert explanation.rfc == f"RFC 3463 §2, §3.{subject + 1}"


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_every_ehlo_keyword_has_its_own_explanation(keyword: str) -> None:
    explanation = explain_keyword(keyword)
    assert explanation.title.startswith(f"{keyword}: ")
    assert not is_generic(explanation)


@pytest.mark.parametrize("spelling", ("pipelining", "Pipelining", " PIPELINING "))
def test_keywords_are_looked_up_case_insensitively(spelling: str) -> None:
    assert explain_keyword(spelling) == explain_keyword("PIPELINING")


def test_every_required_step_is_listed_in_steps() -> None:
    assert set(REQUIRED_STEPS) <= set(STEPS)


@pytest.mark.parametrize("step", REQUIRED_STEPS)
def test_every_required_step_has_its_own_explanation(step: str) -> None:
    assert not is_generic(explain_step(step))


# --- shape of every entry ----------------------------------------------------------------------------


def test_every_explanation_has_a_title_a_text_and_an_rfc_citation() -> None:
    for explanation in every_catalog_explanation():
        assert explanation.title.strip(), explanation
        assert explanation.text.strip(), explanation
        for part in explanation.rfc.split("; "):
            assert CITATION.match(part), explanation


def test_every_catalog_text_is_one_to_three_sentences() -> None:
    for explanation in every_catalog_explanation():
        assert 1 <= len(sentences(explanation.text)) <= 3, explanation


@pytest.mark.parametrize("module", sorted(Path(explanations.__file__).parent.glob("*.py")), ids=lambda p: p.name)
def test_each_catalog_module_imports_only_pure_standard_library_modules_and_the_catalog(module: Path) -> None:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    outside = {name for name in imported if not name.startswith("smtpstep.protocol.explanations")}
    assert {name.split(".")[0] for name in outside} <= {"__future__", "re", "collections", "dataclasses", "typing"}


def test_the_module_opens_with_a_docstring_saying_what_it_must_not_do() -> None:
    doc = explanations.__doc__ or ""
    assert "Holds" in doc and "no I/O" in doc


# --- digits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "category"),
    [
        (451, "transient negative", "mail system"),
        (250, "positive completion", "mail system"),
        (354, "positive intermediate", "mail system"),
        (334, "positive intermediate", "unspecified"),
        (432, "transient negative", "unspecified"),
        (500, "permanent negative", "syntax"),
        (214, "positive completion", "information"),
        (221, "positive completion", "connections"),
        (421, "transient negative", "connections"),
        (535, "permanent negative", "unspecified"),
    ],
)
def test_kind_and_category_come_from_the_first_two_digits(code: int, kind: str, category: str) -> None:
    reply = explain_reply(code)
    assert (reply.code, reply.kind, reply.category) == (code, kind, category)


@pytest.mark.parametrize(
    ("code", "said"), [(250, "done"), (354, "send more"), (451, "later"), (550, "should not repeat")]
)
def test_kind_text_tells_the_client_what_to_do(code: int, said: str) -> None:
    assert said in explain_reply(code).kind_text.lower()


# --- meanings that depend on the command -------------------------------------------------------------


def test_a_220_greeting_and_a_220_reply_to_starttls_mean_different_things() -> None:
    greeting = explain_reply(220, verb="GREETING").meaning
    starttls = explain_reply(220, verb="STARTTLS").meaning
    assert greeting != starttls
    assert "handshake" in starttls.text and "RFC 3207 §4" in starttls.rfc
    assert "RFC 5321 §3.1" in greeting.rfc


def test_250_means_something_different_after_ehlo_mail_rcpt_and_the_final_dot() -> None:
    meanings = [explain_reply(250, verb=verb).meaning for verb in ("EHLO", "MAIL", "RCPT", "MESSAGE")]
    assert len(set(meanings)) == 4
    assert explain_code(250) not in meanings


def test_250_after_the_final_dot_says_the_server_is_now_responsible() -> None:
    meaning = explain_reply(250, verb="MESSAGE").meaning
    assert "responsible" in meaning.text
    assert "§4.2.5" in meaning.rfc


@pytest.mark.parametrize("code", (454, 501, 530))
def test_a_code_means_one_thing_after_starttls_and_another_after_auth(code: int) -> None:
    starttls = explain_reply(code, verb="STARTTLS").meaning
    auth = explain_reply(code, verb="AUTH").meaning
    assert starttls != auth
    assert "RFC 3207" in starttls.rfc and "RFC 4954" in auth.rfc


def test_334_after_auth_is_a_base64_challenge() -> None:
    meaning = explain_reply(334, verb="AUTH").meaning
    assert "base64" in meaning.text and "RFC 4954 §4" in meaning.rfc


def test_354_after_data_says_how_the_message_ends() -> None:
    assert "<CRLF>.<CRLF>" in explain_reply(354, verb="DATA").meaning.text


def test_554_as_a_greeting_means_no_smtp_service_here() -> None:
    meaning = explain_reply(554, verb="GREETING").meaning
    assert "no SMTP service" in meaning.title
    assert "RFC 5321 §3.1" in meaning.rfc


@pytest.mark.parametrize("code", (500, 502))
def test_500_or_502_after_ehlo_means_fall_back_to_helo(code: int) -> None:
    meaning = explain_reply(code, verb="EHLO").meaning
    assert "HELO" in meaning.title and "fall back to HELO" in meaning.text
    assert "RFC 5321 §3.2" in meaning.rfc


def test_verb_names_are_read_loosely() -> None:
    class Verb(enum.Enum):
        MAIL = "MAIL"
        AUTH_RESPONSE = "AUTH response"

    mail = explain_reply(250, verb="MAIL").meaning
    assert explain_reply(250, verb="mail from").meaning == mail
    assert explain_reply(250, verb="Mail").meaning == mail
    assert explain_reply(250, verb=Verb.MAIL).meaning == mail  # type: ignore[arg-type]
    auth = explain_reply(501, verb="AUTH").meaning
    assert explain_reply(501, verb="AUTH response").meaning == auth
    assert explain_reply(501, verb=Verb.AUTH_RESPONSE).meaning == auth  # type: ignore[arg-type]
    assert explain_reply(220, verb="connect").meaning == explain_reply(220, verb="GREETING").meaning


def test_an_unknown_verb_falls_back_to_the_meaning_of_the_code_alone() -> None:
    assert explain_reply(250, verb="FROBNICATE").meaning == explain_code(250)


# --- enhanced status codes ---------------------------------------------------------------------------


def test_an_enhanced_code_with_an_unknown_detail_falls_back_to_its_subject() -> None:
    explanation = explain_enhanced("5.1.99")
    assert explanation is not None
    assert explanation.title == "5.1.99: addressing status"
    assert "permanent" in explanation.text
    assert explanation.rfc == "RFC 3463 §2, §3.2"


def test_an_enhanced_code_with_an_unknown_subject_falls_back_to_its_class() -> None:
    explanation = explain_enhanced("4.9.9")
    assert explanation is not None
    assert "transient" in explanation.title
    assert "RFC 3463 §2" in explanation.rfc


def test_a_known_detail_is_explained_with_the_class_it_came_with() -> None:
    transient, permanent = explain_enhanced("4.2.2"), explain_enhanced("5.2.2")
    assert transient is not None and permanent is not None
    assert "mailbox full" in transient.title and "mailbox full" in permanent.title
    assert "temporary" in transient.text and "permanent" in permanent.text


@pytest.mark.parametrize(
    "text", ("garbage", "", " ", "5.1", "3.1.1", "6.0.0", "5.1.1.1", "5.x.1", "5.1.1234", "550 5.1.1", "5..1")
)
def test_explain_enhanced_returns_none_for_text_that_is_not_class_subject_detail(text: str) -> None:
    assert explain_enhanced(text) is None


def test_explain_reply_carries_the_enhanced_explanation() -> None:
    reply = explain_reply(550, "5.1.1", verb="RCPT")
    assert reply.enhanced == explain_enhanced("5.1.1")


def test_explain_reply_notes_an_enhanced_class_that_disagrees_with_the_code() -> None:
    reply = explain_reply(550, "4.1.1")
    assert reply.enhanced is not None
    assert "must agree" in reply.enhanced.text and "RFC 2034 §4" in reply.enhanced.rfc


def test_explain_reply_ignores_an_enhanced_string_that_is_not_a_status_code() -> None:
    assert explain_reply(550, "no such user").enhanced is None
    assert explain_reply(550).enhanced is None


# --- keyword parameters ------------------------------------------------------------------------------


def test_size_parameter_is_worked_into_the_text() -> None:
    text = explain_keyword("SIZE", "52428800").text
    assert "52428800" in text and "50 MB" in text


def test_size_zero_means_no_fixed_limit() -> None:
    assert "no fixed maximum" in explain_keyword("SIZE", "0").text


def test_a_size_that_is_not_a_number_is_said_so_without_raising() -> None:
    assert "not a usable number" in explain_keyword("SIZE", "lots").text


def test_auth_parameters_name_the_offered_mechanisms() -> None:
    text = explain_keyword("AUTH", "PLAIN LOGIN").text
    assert "PLAIN (RFC 4616)" in text and "LOGIN" in text and "TLS" in text
    assert "CRAM-MD5" not in text


def test_the_old_auth_equals_form_is_read_as_auth() -> None:
    explanation = explain_keyword("AUTH=LOGIN", "PLAIN")
    assert explanation.title.startswith("AUTH: ")
    assert "LOGIN" in explanation.text and "PLAIN" in explanation.text and "old" in explanation.text


def test_deliverby_parameter_is_read_as_seconds() -> None:
    assert "300 seconds (5 minutes)" in explain_keyword("DELIVERBY", "300").text


def test_an_unknown_keyword_gets_a_generic_explanation_that_says_the_client_ignores_it() -> None:
    explanation = explain_keyword("X-FROBNICATE", "7")
    assert explanation.title == "X-FROBNICATE: unknown extension"
    assert "does not know" in explanation.text and "ignores it" in explanation.text
    assert '"7"' in explanation.text
    assert CITATION.match(explanation.rfc)


# --- steps -------------------------------------------------------------------------------------------


def test_ehlo_after_starttls_says_both_sides_forget_and_auth_may_appear_now() -> None:
    explanation = explain_step("ehlo-after-starttls")
    assert "forget" in explanation.text and "AUTH" in explanation.text
    assert explanation.rfc == "RFC 3207 §4.2, §6"


def test_starttls_missing_is_the_stripping_defence_and_the_client_stops() -> None:
    explanation = explain_step("starttls-missing")
    assert "stripping" in explanation.text and "stops" in explanation.text
    assert "RFC 3207 §6" in explanation.rfc


def test_step_keys_are_read_loosely() -> None:
    assert explain_step("EHLO_after_STARTTLS") == explain_step("ehlo-after-starttls")


def test_an_unknown_step_gets_a_generic_explanation() -> None:
    explanation = explain_step("teleport")
    assert explanation.title == "teleport" and CITATION.match(explanation.rfc)


# --- unknown codes and lines -------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "kind"), [(299, "positive completion"), (599, "permanent negative")])
def test_an_unknown_code_gets_a_generic_meaning_from_its_first_digit(code: int, kind: str) -> None:
    reply = explain_reply(code)
    assert reply.kind == kind
    assert is_generic(reply.meaning) and kind in reply.meaning.title
    assert CITATION.match(reply.meaning.rfc)


@pytest.mark.parametrize("code", (0, -1, 99, 199, 600, 999, 1000))
def test_a_code_outside_2xx_to_5xx_is_explained_as_out_of_range(code: int) -> None:
    reply = explain_reply(code)
    assert reply.kind == "out of range"
    assert reply.lines()


def test_lines_summarise_the_meaning_the_digits_and_the_enhanced_code_with_citations() -> None:
    lines = explain_reply(451, "4.3.0", verb="MESSAGE").lines()
    text = "\n".join(lines)
    assert lines[0].startswith("451: ")
    assert "transient negative" in text and "mail system" in text
    assert "4.3.0: " in text
    assert "RFC 5321 §4.2.1" in text and "RFC 3463 §3.4" in text
    assert all(line.strip() for line in lines)


def test_lines_leave_out_the_enhanced_code_when_there_is_none() -> None:
    assert len(explain_reply(250).lines()) == 4


# --- never raises ------------------------------------------------------------------------------------

ENHANCED_LIKE = st.from_regex(r"[0-9]\.[0-9]{1,4}\.[0-9]{1,4}", fullmatch=True)


@given(
    code=st.integers(min_value=200, max_value=599),
    enhanced=st.none() | st.text(max_size=20) | ENHANCED_LIKE,
    verb=st.none() | st.sampled_from(VERBS[1:]) | st.text(max_size=12),
)
def test_explain_reply_never_raises_for_any_code_and_any_enhanced_string(
    code: int, enhanced: str | None, verb: str | None
) -> None:
    reply = explain_reply(code, enhanced, verb=verb)
    assert isinstance(reply, ReplyExplanation)
    assert reply.meaning.title and reply.meaning.text and CITATION.match(reply.meaning.rfc)
    assert all(isinstance(line, str) and line for line in reply.lines())
    if reply.enhanced is not None:
        assert CITATION.match(reply.enhanced.rfc)


@given(keyword=st.text(max_size=20), params=st.text(max_size=40))
def test_explain_keyword_never_raises_for_any_keyword_and_parameters(keyword: str, params: str) -> None:
    explanation = explain_keyword(keyword, params)
    assert explanation.title and explanation.text and CITATION.match(explanation.rfc)


@given(step=st.text(max_size=30))
def test_explain_step_never_raises_for_any_text(step: str) -> None:
    explanation = explain_step(step)
    assert explanation.title and explanation.text and CITATION.match(explanation.rfc)


# --- what the server said: bad input, enhanced codes sent or not ----------------------------------


def test_a_reply_the_catalog_does_not_know_is_explained_by_its_digits_and_says_it_is_not_in_the_catalog() -> None:
    (reply,) = ReplyParser().feed(b"557 7.7.7 Something nobody defined\r\n")
    decoded = explain_reply(reply.code, reply.enhanced, verb="RCPT", text=reply.lines)
    assert decoded.key == "unlisted" and not decoded.in_catalog
    assert "no entry for 557 in answer to RCPT" in decoded.meaning.text
    assert "failed for good" in decoded.meaning.text  # the first digit
    assert "receiving mail system" in decoded.meaning.text  # the second digit
    assert decoded.sent_enhanced is None and decoded.enhanced is None  # 7.7.7 is no class.subject.detail


def test_an_enhanced_code_whose_class_disagrees_with_the_reply_code_is_shown_and_named() -> None:
    (reply,) = ReplyParser().feed(b"550 4.1.1 <nobody@example.test>: unknown\r\n")
    assert reply.enhanced is None  # the parser keeps only codes that agree with the reply code
    decoded = explain_reply(reply.code, reply.enhanced, verb="RCPT", text=reply.lines)
    assert decoded.sent_enhanced == "4.1.1"
    assert decoded.enhanced is not None
    assert decoded.enhanced.title == "4.1.1: class 4 with a 5xx reply"
    assert "must agree" in decoded.enhanced.text and "three-digit code decides" in decoded.enhanced.text
    assert "RFC 2034 §4" in decoded.enhanced.rfc and "RFC 3463 §2" in decoded.enhanced.rfc


def test_a_reply_without_an_enhanced_code_gets_none_and_no_entry_claims_one() -> None:
    decoded = explain_reply(530, None, verb="MAIL", text=["Must issue a STARTTLS command first"])
    assert decoded.sent_enhanced is None and decoded.enhanced is None
    assert decoded.key == "tls-required"
    for code in ALL_CODES:
        for verb in VERBS:
            meaning = explain_reply(code, verb=verb).meaning
            assert not re.search(r"\b[245]\.\d{1,3}\.\d{1,3}\b", meaning.title + meaning.text), (code, verb)
    for entry in SITUATIONS.values():
        assert not re.search(r"\b[245]\.\d{1,3}\.\d{1,3}\b", entry.title + entry.text), entry


@pytest.mark.parametrize(
    ("code", "enhanced", "said"),
    [
        (451, "4.7.1", "defines X.7.1 as a permanent error only"),
        (450, "4.1.1", "defines X.1.1 as a permanent error only"),
        (552, "5.2.2", "defines X.2.2 as a persistent transient error"),
        (554, "5.4.7", "defines X.4.7 as a persistent transient error"),
    ],
)
def test_a_detail_sent_with_a_class_rfc_3463_does_not_define_it_for_is_named(code: int, enhanced: str, said: str) -> None:
    explanation = explain_reply(code, enhanced).enhanced
    assert explanation is not None
    assert said in explanation.text and "first digit decides" in explanation.text


@pytest.mark.parametrize(
    ("code", "title", "rfc"),
    [
        ("5.6.8", "UTF-8 string reply required", "RFC 6531 §3.7.4.2, §4.2"),
        ("5.6.9", "UTF-8 header message cannot be transferred", "RFC 6531 §3.5, §4.2"),
        ("5.6.10", "duplicate of X.6.8 (deprecated)", "RFC 6531 §4.2"),
        ("5.7.30", "REQUIRETLS support required", "RFC 8689 §4.2.1, §7"),
    ],
)
def test_the_smtputf8_and_requiretls_codes_have_their_own_entries(code: str, title: str, rfc: str) -> None:
    explanation = explain_enhanced(code)
    assert explanation is not None and not is_generic(explanation)
    assert explanation.title.startswith(f"{code}: {title}") and explanation.rfc == rfc


def test_only_a_bounded_part_of_a_huge_reply_text_is_searched() -> None:
    lines = ["x" * 4000] * 1000 + ["Must issue a STARTTLS command first"]
    decoded = explain_reply(530, verb="MAIL", text=lines)  # the words come too late to be read
    assert decoded.key == "530"
    assert explain_reply(530, verb="MAIL", text="Must issue a STARTTLS command first" + "x" * 10**6).key == (
        "tls-required")


@pytest.mark.parametrize(
    ("code", "verb", "text", "key"),
    [
        (530, "AUTH", "Must issue a STARTTLS command first", "tls-required"),  # aiosmtpd, no enhanced code
        (530, "MAIL", "5.5.1 Invalid command: Must issue an AUTH command first", "auth-required"),  # OpenSMTPD
        (503, "STARTTLS", "5.5.1 Invalid command: Channel already secured", "tls-already-active"),  # OpenSMTPD
        (503, "AUTH", "Already authenticated", "already-authenticated"),  # aiosmtpd
        (503, "MAIL", "Error: send EHLO first", "hello-first"),  # aiosmtpd
        (503, "MAIL", "Error: nested MAIL command", "transaction-open"),  # aiosmtpd
        (500, "AUTH", "Error: command 'AUTH' not recognized", "auth-not-recognized"),  # aiosmtpd after HELO
        (451, "RCPT", "4.7.1 <a@b.test>: greylisted, please try again later", "greylisted"),  # the built-in server
        (552, "MAIL", "5.3.4 Message size exceeds fixed maximum message size", "too-big-declared"),
        (553, "RCPT", "5.1.1 <x@y>: unknown", "no-such-recipient"),
        (552, "RCPT", "5.2.2 Mailbox full", "mailbox-full"),
        (421, "RCPT", "4.7.0 Error: too many errors", "too-many-errors"),
    ],
)
def test_replies_of_other_servers_are_told_apart_by_their_words(code: int, verb: str, text: str, key: str) -> None:
    assert explain_reply(code, verb=verb, text=[text]).key == key
