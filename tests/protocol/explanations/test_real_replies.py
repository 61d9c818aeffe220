"""Replies recorded from real MTAs (Postfix 3.7 and Exim 4.96, tests/data/replies/), parsed again with the
core's ``ReplyParser`` and explained: the table below says which catalog entry each reply must get.

The recordings were made with smtpstep's own ``BlockingTransport`` (benchmarks/mta/record.py) and hold the
exact bytes each server sent, so no MTA is needed here. Keys: a situation told by text or enhanced code
("tls-required"), a code after a command ("503 RCPT"), or a code alone ("235").
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smtpstep.protocol.explanations import explain_reply
from smtpstep.protocol.replies import Reply, ReplyParser

DATA = Path(__file__).resolve().parents[2] / "data" / "replies"

PLAIN = ["220 GREETING", "250 EHLO"]
"""Greeting and EHLO on the plain port."""
UNDER_TLS = [*PLAIN, "220 STARTTLS", "250 EHLO"]
"""Greeting, EHLO, STARTTLS (then the handshake, which has no reply) and EHLO again."""
BYE = ["221 QUIT"]

BOTH: dict[str, list[str]] = {
    "normal-session": [*UNDER_TLS, "235", "250 MAIL", "250 RCPT", "354 DATA", "250 MESSAGE", *BYE],
    "auth-on-the-plain-port": [*PLAIN, "auth-not-offered", *BYE],
    "mail-before-tls": [*PLAIN, "tls-required", *BYE],
    "wrong-password": [*UNDER_TLS, "535", "334", "334", "535", *BYE],
    "auth-cancelled": [*UNDER_TLS, "334", "501 AUTH", *BYE],
    "second-auth": [*UNDER_TLS, "235", "already-authenticated", *BYE],
    "relay-denied": [*PLAIN, "250 MAIL", "relay-denied", *BYE],
    "relay-denied-after-auth": [*UNDER_TLS, "235", "250 MAIL", "relay-denied", *BYE],
    "unknown-user": [*PLAIN, "250 MAIL", "no-such-recipient", *BYE],
    "too-big-declared": [*PLAIN, "too-big-declared", *BYE],
    "too-big-sent": [*PLAIN, "250 MAIL", "250 RCPT", "354 DATA", "too-big-sent", *BYE],
    "too-many-recipients": [*PLAIN, "250 MAIL", "250 RCPT", "250 RCPT", "250 RCPT", "too-many-recipients",
                            "354 DATA", "250 MESSAGE", *BYE],
    "rcpt-before-mail": [*PLAIN, "503 RCPT", *BYE],
    "data-before-mail": [*PLAIN, "503 DATA", *BYE],
    "mail-after-tls-without-ehlo": [*PLAIN, "220 STARTTLS", "hello-first", *BYE],
    "mail-twice": [*PLAIN, "250 MAIL", "transaction-open", *BYE],
    "pipelining": [*PLAIN, "250 MAIL", "250 RCPT", "no-such-recipient", "354 DATA", "250 MESSAGE", *BYE],
}
"""Cases both MTAs answer alike, as far as the explanation goes (their words differ: see the JSON files)."""

EXPECTED: dict[str, dict[str, list[str]]] = {
    "postfix": {
        **BOTH,
        "auth-before-tls": [*PLAIN, "tls-required", *BYE],
        "mail-without-auth": [*UNDER_TLS, "250 MAIL", "recipient-refused-by-policy", *BYE],
        "auth-unknown-mechanism": [*UNDER_TLS, "auth-mechanism-unavailable", *BYE],
        "auth-in-transaction": [*UNDER_TLS, "250 MAIL", "auth-in-transaction", *BYE],
        "starttls-twice": [*UNDER_TLS, "tls-already-active", *BYE],
        "helo-then-starttls": ["220 GREETING", "250 HELO", "220 STARTTLS", "250 EHLO", *BYE],
        "data-before-rcpt": [*PLAIN, "250 MAIL", "554 DATA", *BYE],
        "mail-before-ehlo": ["220 GREETING", "250 MAIL", "250 RSET", *BYE],  # Postfix's plain port allows it
        "protocol-errors-repeated": [*PLAIN, *["503 RCPT"] * 5, *BYE],
        "unknown-command": [*PLAIN, "500", "500", *BYE],
        "greylisting": [*PLAIN, "250 MAIL", "greylisted", *BYE] * 2,  # a fixed stand-in: always 450
    },
    "exim": {
        **BOTH,
        "auth-before-tls": [*PLAIN, "auth-not-offered", *BYE],
        "mail-without-auth": [*UNDER_TLS, "auth-required", "503 RCPT", *BYE],
        "auth-unknown-mechanism": [*UNDER_TLS, "504 AUTH", *BYE],
        "auth-in-transaction": [*UNDER_TLS, "auth-required", "235", *BYE],  # Exim refuses MAIL before AUTH
        "starttls-twice": [*UNDER_TLS, "starttls-not-offered", *BYE],
        "helo-then-starttls": ["220 GREETING", "250 HELO", "starttls-not-offered", *BYE],
        "data-before-rcpt": [*PLAIN, "250 MAIL", "503 DATA", *BYE],
        "mail-before-ehlo": ["220 GREETING", "hello-first", "250 RSET", *BYE],
        # The fourth error gets a two-line 503 that ends "Too many syntax or protocol errors", and a hang-up.
        "protocol-errors-repeated": [*PLAIN, "503 RCPT", "503 RCPT", "503 RCPT", "too-many-errors"],
        "unknown-command": [*PLAIN, "500", "550", *BYE],
        "greylisting": [*PLAIN, "250 MAIL", "greylisted", *BYE, *PLAIN, "250 MAIL", "250 RCPT", *BYE],
    },
}

ENHANCED_AT_START = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}(?=\s|$)")
ANY_ENHANCED = re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b")


def recording(mta: str) -> dict:
    return json.loads((DATA / f"{mta}.json").read_text(encoding="utf-8"))


def answered(mta: str, case: str) -> list[tuple[str, Reply]]:
    """Each reply of a recorded case, parsed from its exact bytes, with the command it answers."""
    out: list[tuple[str, Reply]] = []
    for step in recording(mta)["cases"][case]["steps"]:
        replies = ReplyParser().feed(step["reply"].encode("latin-1"))
        assert len(replies) == (len(step["verbs"]) if step["reply"] else 0), step
        out.extend(zip(step["verbs"], replies))
    return out


CASES = [(mta, case) for mta, cases in EXPECTED.items() for case in cases]


@pytest.mark.parametrize("mta", sorted(EXPECTED))
def test_the_recordings_name_the_mta_and_its_version_and_hold_every_case_of_the_table(mta: str) -> None:
    recorded = recording(mta)
    assert recorded["mta"] == mta
    assert re.match(r"(Postfix|Exim) \d+\.\d+", recorded["version"]), recorded["version"]
    assert "BlockingTransport" in recorded["recorded_with"]
    assert set(recorded["cases"]) == set(EXPECTED[mta])


@pytest.mark.parametrize(("mta", "case"), CASES)
def test_each_recorded_reply_gets_the_explanation_the_table_names(mta: str, case: str) -> None:
    keys = [explain_reply(reply.code, reply.enhanced, verb=verb, text=reply.lines).key
            for verb, reply in answered(mta, case)]
    assert keys == EXPECTED[mta][case]


@pytest.mark.parametrize(("mta", "case"), CASES)
def test_the_enhanced_code_shown_is_the_one_the_server_sent_or_none(mta: str, case: str) -> None:
    for verb, reply in answered(mta, case):
        said = ENHANCED_AT_START.match(reply.lines[0] if reply.lines else "")
        decoded = explain_reply(reply.code, reply.enhanced, verb=verb, text=reply.lines)
        assert decoded.sent_enhanced == (said.group(0) if said else None)
        if decoded.sent_enhanced is None:
            assert decoded.enhanced is None
        else:
            assert decoded.enhanced is not None and decoded.enhanced.title.startswith(decoded.sent_enhanced)
        # The meaning never names an enhanced code of its own: only the one sent is shown, under it.
        assert not ANY_ENHANCED.search(decoded.meaning.title + decoded.meaning.text), (reply, decoded.meaning)


def test_the_two_530s_are_told_apart_by_their_text_though_code_and_enhanced_code_agree() -> None:
    tls = dict(answered("postfix", "mail-before-tls"))["MAIL"]
    auth = dict(answered("exim", "mail-without-auth"))["MAIL"]
    assert (tls.code, tls.enhanced) == (auth.code, auth.enhanced) == (530, "5.7.0")
    first = explain_reply(tls.code, tls.enhanced, verb="MAIL", text=tls.lines)
    second = explain_reply(auth.code, auth.enhanced, verb="MAIL", text=auth.lines)
    assert "STARTTLS" in first.meaning.text and "RFC 3207 §4" in first.meaning.rfc
    assert "AUTH" in second.meaning.text and "RFC 4954 §6" in second.meaning.rfc


def test_a_530_to_auth_is_never_explained_as_authentication_required() -> None:
    (reply,) = [r for verb, r in answered("postfix", "auth-before-tls") if verb == "AUTH"]
    decoded = explain_reply(reply.code, reply.enhanced, verb="AUTH", text=reply.lines)
    assert decoded.key == "tls-required" and "authentication required" not in decoded.meaning.title.lower()
    without_text = explain_reply(530, verb="AUTH")  # the fallback still points at TLS, not at a login
    assert "TLS" in without_text.meaning.text and "RFC 3207 §4" in without_text.meaning.rfc


def test_greylisting_with_x_7_1_says_rfc_3463_defines_it_as_permanent_and_the_4_decides() -> None:
    (reply,) = [r for verb, r in answered("exim", "greylisting") if verb == "RCPT" and r.code == 451]
    decoded = explain_reply(reply.code, reply.enhanced, verb="RCPT", text=reply.lines)
    assert decoded.enhanced is not None
    assert "permanent error only" in decoded.enhanced.text and "first digit decides" in decoded.enhanced.text
    assert "RFC 6647" in decoded.meaning.rfc and "450" in decoded.meaning.text
