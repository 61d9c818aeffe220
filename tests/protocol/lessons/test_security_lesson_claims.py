"""Claims of the email-security lessons that once were wrong or unsupported stay right: each test names the RFC
sentence the narration now rests on. A guard against a claim coming back, not a proof that every sentence is
true."""

from __future__ import annotations

from smtpstep.protocol.lessons.loader import load


def say(name: str, kind: str, index: int = 0, part: int = 0) -> str:
    """The narration of the ``index``-th step of ``kind`` in a lesson's part, on one line."""
    return " ".join([note.say for note in load(name).parts[part].steps if note.kind == kind][index].split())


def test_a_mailing_list_putting_its_own_envelope_sender_is_cited_to_rfc_5321_section_3_9() -> None:
    # RFC 5321 §3.9: the return address in the envelope "MUST be changed to be the address of a person or other
    # entity who administers the list".
    assert "RFC 5321 §3.9" in say("dkim", "mail")


def test_bcc_rests_on_rfc_5321_section_7_2_not_on_a_single_client_rule() -> None:
    # RFC 5321 §7.2: "Addresses that do not appear in the message header section may appear in the RCPT
    # commands"; RFC 5322 §3.6.3 gives three ways a Bcc: field is used.
    text = say("envelope-vs-header", "rcpt", 1)
    assert "RFC 5321 §7.2" in text and "one of the ways RFC 5322 §3.6.3" in text


def test_softfail_narration_carries_the_should_not_reject_of_rfc_7208_section_8_5() -> None:
    # RFC 7208 §8.5: "Receiving software SHOULD NOT reject the message based solely on this result".
    assert "SHOULD NOT reject the message based solely on this result\" (§8.5)" in say("spf", "message", part=2)


def test_5_7_26_is_cited_to_its_section_of_rfc_7372_and_no_provider_is_named_as_authority() -> None:
    for name, part in (("dmarc", 1), ("dkim", 1), ("spf", 1)):
        assert "RFC 7372 §3.4" in say(name, "message", part=part), name
    assert "Gmail" not in say("dmarc", "message", part=1)


def test_the_app_password_part_does_not_talk_of_a_bearer_token() -> None:
    # Part 3 logs in with AUTH PLAIN; RFC 4616 §5: PLAIN "should not be used without adequate data security
    # protection". Parts 1 and 2 carry tokens: RFC 6750 §5.3 "Clients MUST always use TLS".
    assert "bearer" not in say("modern-login", "tls-handshake", part=2).lower()
    assert "RFC 4616 §5" in say("modern-login", "tls-handshake", part=2)
    assert "RFC 6750 §5.3" in say("modern-login", "tls-handshake", part=0)


def test_esmtpsa_is_the_should_of_rfc_4954_section_7() -> None:
    # RFC 4954 §7: "Upon successful authentication, a server SHOULD use the "ESMTPA" or the "ESMTPSA"".
    assert "RFC 4954 §7" in say("modern-login", "message")


def test_the_oauthbearer_line_is_decoded_in_the_order_rfc_7628_section_3_1_gives() -> None:
    # RFC 7628 §3.1: client-resp = gs2-header kvsep *kvpair kvsep; kvpair = key "=" value kvsep.
    text = say("modern-login", "auth")
    assert text.index('"n,a=student,"') < text.index("auth=Bearer") < text.index("ends the list")
