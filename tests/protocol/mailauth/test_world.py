"""What the receiving MX concludes, per scenario, read back from its Authentication-Results field with authres
(RFC 8601): SPF pass / fail / softfail (RFC 7208), DKIM pass and a body changed after signing (RFC 6376), DMARC
alignment and the 550 5.7.26 refusal under p=reject (RFC 7489, RFC 7372)."""

from __future__ import annotations

import authres

from smtpstep.protocol.mailauth import dkimcheck, world
from smtpstep.protocol.mailauth.zone import ZoneSet

BODY = b"To: teacher@example.test\r\nSubject: A test\r\n\r\nThe meeting is at 10.\r\n"


def message(from_: str, body: bytes = BODY) -> bytes:
    return f"From: {from_}\r\n".encode() + body


def results(verdict: world.Verdict) -> dict[str, str]:
    parsed = authres.AuthenticationResultsHeader.parse(verdict.header.decode().replace("\r\n", ""))
    assert parsed.authserv_id == "mail.smtpstep.test"
    return {result.method: result.result for result in parsed.results}


def check(data: bytes, mail_from: str, peer_ip: str = "127.0.0.1") -> world.Verdict:
    return world.check(data, peer_ip=peer_ip, mail_from=mail_from, helo="client.smtpstep.test",
                       authserv_id="mail.smtpstep.test")


def signed(data: bytes) -> bytes:
    key = dkimcheck.load(world.DEMO_DKIM_KEY, "client.smtpstep.test", "s1")
    return dkimcheck.sign(data, key) + data


def test_the_students_own_domain_passes_spf_and_dmarc_and_is_delivered():
    verdict = check(message("student@client.smtpstep.test"), "student@client.smtpstep.test")
    assert results(verdict) == {"spf": "pass", "dkim": "none", "dmarc": "pass"}
    assert verdict.reply is None
    assert verdict.lookups == (
        'DNS: TXT client.smtpstep.test? → "v=spf1 ip4:127.0.0.1 -all"',
        'DNS: TXT _dmarc.client.smtpstep.test? → "v=DMARC1; p=reject"',
    )


def test_a_sender_domain_that_lists_another_address_fails_spf():
    verdict = check(message("ceo@bank.test"), "ceo@bank.test")
    assert results(verdict)["spf"] == "fail"
    assert verdict.reply is not None and verdict.reply.startswith("550 5.7.26 ")


def test_tilde_all_gives_softfail_and_no_policy_means_delivery():
    verdict = check(message("news@soft.test"), "news@soft.test")
    assert results(verdict) == {"spf": "softfail", "dkim": "none", "dmarc": "none"}
    assert verdict.reply is None


def test_a_spoofed_from_with_an_honest_envelope_fails_dmarc_and_is_refused_with_5_7_26():
    verdict = check(message("The CEO <ceo@bank.test>"), "student@client.smtpstep.test")
    assert results(verdict) == {"spf": "pass", "dkim": "none", "dmarc": "fail"}
    assert verdict.reply == ("550 5.7.26 Unauthenticated email from bank.test is not accepted due to its DMARC "
                             "policy (p=reject)")


def test_a_signature_by_the_from_domain_passes_dkim_and_carries_dmarc_without_spf():
    verdict = check(signed(message("student@client.smtpstep.test")), "list@example.test")
    assert results(verdict) == {"spf": "none", "dkim": "pass", "dmarc": "pass"}
    assert verdict.dkim[0].domain == "client.smtpstep.test" and verdict.dkim[0].selector == "s1"


def test_a_footer_added_after_signing_fails_the_body_hash_and_dmarc_rejects():
    data = signed(message("student@client.smtpstep.test")) + b"--\r\nclass-list mailing list\r\n"
    verdict = check(data, "list@example.test")
    assert results(verdict) == {"spf": "none", "dkim": "fail", "dmarc": "fail"}
    assert verdict.dkim[0].reason == "body hash did not verify"
    assert verdict.reply is not None and verdict.reply.startswith("550 5.7.26 ")


def test_a_from_domain_that_is_not_a_plain_host_name_is_not_echoed_into_the_reply():
    zones = ZoneSet.from_mapping({**world.ZONES, "_odd.test": '_dmarc TXT "v=DMARC1; p=reject"\n'})
    verdict = world.check(message("ceo@_odd.test"), peer_ip="127.0.0.1", mail_from="student@client.smtpstep.test",
                          helo="client.smtpstep.test", authserv_id="mail.smtpstep.test", zone_set=zones)
    assert verdict.dmarc.from_domain == "_odd.test"
    assert verdict.reply == ("550 5.7.26 Unauthenticated email from the From: domain is not accepted due to its "
                             "DMARC policy (p=reject)")


def test_a_dkim_key_that_is_not_a_key_is_one_sentence_naming_the_record():
    try:
        dkimcheck.load("not a key", "client.smtpstep.test", "s1", source="my.toml")
    except dkimcheck.DkimKeyError as error:
        text = str(error)
    else:
        raise AssertionError("a non-key was accepted")
    assert text.startswith("my.toml: the DKIM private key for s1._domainkey.client.smtpstep.test is not a key")
    assert "\n" not in text


def test_the_spf_comment_says_what_was_checked_and_escapes_the_senders_text():
    field = check(message("x@client.smtpstep.test"), "x@b(c).test").header.decode()
    assert "spf=none (mail.smtpstep.test: b\\(c\\).test publishes no SPF record)" in field
    parsed = authres.AuthenticationResultsHeader.parse(field.replace("\r\n", ""))
    assert [result.method for result in parsed.results] == ["spf", "dkim", "dmarc"]
