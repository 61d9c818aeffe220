"""The catalog entries the email-security lessons show: each one rests on the RFC sentence named beside it."""

from __future__ import annotations

import pytest

from smtpstep.protocol.explanations import explain_enhanced, explain_keyword, explain_reply


def test_252_says_a_site_that_turns_vrfy_off_must_answer_it_and_it_proves_nothing() -> None:
    # RFC 5321 §7.3: "If a site disables these commands for security reasons, the SMTP server MUST return a
    # 252 response, rather than a code that could be confused with successful or unsuccessful verification."
    meaning = explain_reply(252, verb="VRFY").meaning
    assert "must answer 252" in meaning.text and "says nothing about whether" in meaning.text
    assert "§7.3" in meaning.rfc


def test_551_tells_the_client_to_trust_the_address_it_names_only_from_a_trusted_server() -> None:
    # RFC 5321 §3.4: servers "MUST NOT assume that the client will actually update address information";
    # §7.4: before using a 551 "it should be certain of the server's authenticity".
    meaning = explain_reply(551, verb="RCPT").meaning
    assert "trusts the server" in meaning.text and "§7.4" in meaning.rfc


def test_535_and_5_7_8_speak_of_invalid_or_insufficient_credentials_not_only_a_wrong_password() -> None:
    # RFC 4954 §6: "the authentication failed due to invalid or insufficient authentication credentials".
    decoded = explain_reply(535, "5.7.8", verb="AUTH", text="5.7.8 Authentication credentials invalid")
    assert "invalid or insufficient" in decoded.meaning.text
    assert decoded.enhanced is not None and "token" in decoded.enhanced.text


@pytest.mark.parametrize(
    ("code", "rfc"),
    [("5.7.20", "RFC 7372 §3.1; RFC 6376 §6.1"), ("5.7.21", "RFC 7372 §3.1; RFC 6376 §6.1"),
     ("5.7.22", "RFC 7372 §3.1; RFC 6376 §6.1"),
     ("5.7.23", "RFC 7372 §3.2; RFC 7208 §8.4"), ("5.7.24", "RFC 7372 §3.2; RFC 7208 §8.6, §8.7"),
     ("5.7.25", "RFC 7372 §3.3"), ("5.7.26", "RFC 7372 §3.4")],
)
def test_the_email_authentication_codes_cite_their_section_of_rfc_7372(code: str, rfc: str) -> None:
    explanation = explain_enhanced(code)
    assert explanation is not None and explanation.rfc == rfc


def test_a_dmarc_refusal_after_the_message_is_explained_as_the_domain_policy_not_a_missing_mailbox() -> None:
    # RFC 7489 §6.3, p=reject: "Rejection SHOULD occur during the SMTP transaction."
    said = "5.7.26 Unauthenticated email from bank.test is not accepted due to its DMARC policy (p=reject)"
    decoded = explain_reply(550, "5.7.26", verb="MESSAGE", text=said)
    assert decoded.key == "dmarc-policy" and "RFC 7489" in decoded.meaning.rfc
    assert decoded.enhanced is not None and "more than one" in decoded.enhanced.text


@pytest.mark.parametrize(("verb", "code"), [("MAIL", "5.7.23"), ("RCPT", "5.7.23"), ("MESSAGE", "5.7.20")])
def test_an_authentication_code_without_words_is_still_told_apart_from_a_missing_mailbox(verb: str,
                                                                                         code: str) -> None:
    assert explain_reply(550, code, verb=verb, text=f"{code} rejected").key == "authentication-failed"


def test_a_bdat_chunk_and_the_last_chunk_are_explained_apart() -> None:
    # RFC 3030 §2: "Once the receiver-SMTP receives the specified number of octets, it will return a 250 reply
    # code"; the reply to BDAT LAST is the reply to the whole message, as after DATA's final dot.
    assert explain_reply(250, "2.0.0", verb="BDAT", text="2.0.0 40 octets received").key == "250 BDAT"
    assert explain_reply(250, "2.0.0", verb="BDAT LAST", text="2.0.0 OK").key == "250 MESSAGE"


def test_requiretls_asks_for_a_verified_next_hop_that_offers_requiretls_too() -> None:
    text = explain_keyword("REQUIRETLS").text
    assert "certificate it verified" in text and "offers REQUIRETLS too" in text
