"""Situations: replies that mean different things although code and command are the same, told apart by
the enhanced status code the server sent, or, where the RFCs distinguish the cases only by text, by the
words real servers use.

Two 530s are the plainest case: RFC 3207 §4 ("Must issue a STARTTLS command first") and RFC 4954 §6
("Authentication required") give the same code and the same 5.7.0. The patterns below were taken from the
replies of Postfix, Exim, aiosmtpd and OpenSMTPD (tests/data/replies/ holds the recorded ones). They only
choose what the explanation pane says: a client acts on the reply code, never on its text (RFC 5321 §4.2).

Rules for this module:
- pure: no I/O, no clock; only ``re`` and the catalog's own model;
- the server's text is untrusted and unbounded: only its first ``TEXT_LIMIT`` characters are searched,
  with patterns that cannot backtrack badly, and nothing of it is put into an explanation;
- every entry says what is known and no more, and cites the RFC section it rests on.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from smtpstep.protocol.explanations.model import Entry

TEXT_LIMIT = 1000
"""How much of a reply's text the patterns look at (a reply may be 1000 lines of 4 KiB)."""

SITUATIONS: dict[str, Entry] = {
    "tls-required": Entry(
        "TLS required first",
        "The server takes this command only over an encrypted connection: send STARTTLS, then EHLO again, then "
        "the command. A server that is not a public mail exchanger may require TLS, and should then answer 530 "
        "to every command but NOOP, EHLO, STARTTLS and QUIT.",
        "RFC 3207 §4",
    ),
    "auth-required": Entry(
        "authentication required",
        "The server's policy requires a login before this command: authenticate with AUTH, then send it again. "
        "A submission server must by default refuse mail from a client that has not logged in.",
        "RFC 4954 §6; RFC 6409 §4.3",
    ),
    "tls-already-active": Entry(
        "TLS is already on",
        "The connection is already encrypted, and a client must not start TLS a second time, so the server "
        "refuses. Carry on inside the TLS session there is.",
        "RFC 3207 §4.2",
    ),
    "starttls-not-offered": Entry(
        "STARTTLS not on offer",
        "The server did not list STARTTLS in its last EHLO reply, so it refuses the command: after HELO there is "
        "no list at all, and once TLS is on a server must not offer STARTTLS again.",
        "RFC 3207 §4.2; RFC 5321 §3.2",
    ),
    "auth-not-offered": Entry(
        "AUTH not on offer",
        "The server did not list AUTH in its last EHLO reply, so it refuses the command. Many servers offer AUTH "
        "only under TLS, and the list may change once TLS is up: send STARTTLS and EHLO, then look for AUTH.",
        "RFC 4954 §3, §4",
    ),
    "auth-not-recognized": Entry(
        "AUTH not recognized here",
        "The server does not know AUTH on this session: after HELO there are no extensions, and a server that "
        "did not list AUTH in its EHLO reply need not understand it. Send EHLO and look for an AUTH line.",
        "RFC 4954 §3; RFC 5321 §3.2, §4.2.3",
    ),
    "auth-line-too-long": Entry(
        "AUTH line too long",
        "A line of the AUTH exchange was longer than the server's buffer, so the authentication failed. "
        "The client may try again with shorter lines, or another mechanism.",
        "RFC 4954 §4, §6",
    ),
    "auth-mechanism-unavailable": Entry(
        "mechanism not available",
        "The server does not offer this SASL mechanism here. RFC 4954 answers that with 504, though some "
        "servers say it with 535: pick a mechanism that the EHLO reply lists after AUTH.",
        "RFC 4954 §4",
    ),
    "already-authenticated": Entry(
        "already authenticated",
        "One AUTH per session: this one has already succeeded, and the server must refuse any further AUTH "
        "with 503. The session stays logged in.",
        "RFC 4954 §4",
    ),
    "auth-in-transaction": Entry(
        "AUTH inside a mail transaction",
        "AUTH may not be sent while a mail transaction is open, and the server must refuse it with 503: finish "
        "the transaction, or end it with RSET, first.",
        "RFC 4954 §4",
    ),
    "hello-first": Entry(
        "EHLO or HELO first",
        "The client has not introduced itself in this session, or the TLS handshake reset the session and EHLO "
        "was not sent again. A client must send EHLO or HELO before it starts a mail transaction.",
        "RFC 5321 §4.1.1.1, §4.1.4; RFC 3207 §4.2",
    ),
    "transaction-open": Entry(
        "a transaction is already open",
        "MAIL must not be sent while a mail transaction is open: finish it with DATA, or end it with RSET, "
        "before starting another.",
        "RFC 5321 §4.1.4",
    ),
    "too-many-errors": Entry(
        "too many errors: the server gives up",
        "After many errors in one session the server treats the client as a possible attacker and closes the "
        "connection, as RFC 5321 lets a server do to defend itself. Start a new session and send the commands "
        "in order.",
        "RFC 5321 §3.8, §7.8",
    ),
    "greylisted": Entry(
        "greylisted: try again later",
        "The server turns away the first attempt from a client, sender and recipient it has not seen together, "
        "and accepts the same mail when it comes back later. RFC 6647 calls 450 (or 421, hanging up) the "
        "reasonable codes for this, but any 4yz says the same: the client should try again later.",
        "RFC 6647 §1, §5; RFC 5321 §4.2.1",
    ),
    "relay-denied": Entry(
        "relaying denied",
        "The recipient's domain is not one this server takes mail for, and it will not pass mail on to other "
        "servers for this client. RFC 5321 says a server that declines to relay should answer 550; some use 554.",
        "RFC 5321 §3.6.2, §7.9",
    ),
    "no-such-recipient": Entry(
        "no such recipient",
        "The server has no mailbox for this address, or no way to deliver to it, and refuses the recipient for "
        "good. Recipients already accepted stay valid; fix or drop this one.",
        "RFC 5321 §3.3, §4.2.2",
    ),
    "recipient-refused-by-policy": Entry(
        "recipient refused by policy",
        "The server's rules do not let this client or sender send to this recipient, for example because the "
        "client has not logged in or is not trusted. It is a refusal for good, not a missing mailbox.",
        "RFC 3463 §3.8; RFC 5321 §7.9",
    ),
    "too-many-recipients": Entry(
        "too many recipients",
        "The server takes no more recipients in this transaction; those already accepted stay, so send the "
        "message to them and the rest in a new transaction. 452 is the code for this, and a client should treat "
        "a 552 here as temporary too; a server must take at least 100 recipients before it refuses any this way.",
        "RFC 5321 §4.5.3.1.8, §4.5.3.1.10",
    ),
    "mailbox-full": Entry(
        "mailbox full",
        "The recipient's mailbox has no room for this message; space frees up when the recipient deletes mail. "
        "RFC 3463 defines a full mailbox as a temporary condition, even when a server reports it with 552.",
        "RFC 3463 §3.3; RFC 5321 §4.2.2",
    ),
    "dmarc-policy": Entry(
        "refused by the sender domain's DMARC policy",
        "The From: domain publishes p=reject: mail that passes neither SPF nor DKIM for a domain aligned with "
        "From: is to be rejected, and rejection should happen in the SMTP session, as here. The message did "
        "not pass; the fix is on the sending side, so the client should not resend it unchanged.",
        "RFC 7489 §3.1, §6.3, §6.6",
    ),
    "authentication-failed": Entry(
        "refused by the receiver's authentication checks",
        "The receiver checked who sent the message, with SPF, DKIM or both, and its policy refuses mail that "
        "fails them; the enhanced code says which check failed. The fix is on the sending side, so the client "
        "should not resend it unchanged.",
        "RFC 7372 §3; RFC 5321 §7.9",
    ),
    "too-big-declared": Entry(
        "declared size over the limit",
        "The size declared with SIZE= is more than this server ever accepts, so it refuses before a byte of the "
        "message is sent. The client should send RSET or QUIT, and not send this message here.",
        "RFC 1870 §6.1, §6.2",
    ),
    "too-big-sent": Entry(
        "message too big",
        "The server read the message and refuses it as larger than it accepts, so the same message will fail "
        "the same way here. Declaring SIZE= on MAIL FROM finds this out before the message is sent.",
        "RFC 1870 §4, §6.3; RFC 3463 §3.4",
    ),
}
"""Every situation, by key; the key is what ``ReplyExplanation.key`` reports."""


class _TextCase(NamedTuple):
    codes: frozenset[int]
    verbs: frozenset[str] | None
    """The commands answered (catalog verb keys); None for any."""
    pattern: re.Pattern[str]
    key: str


def _case(codes: tuple[int, ...], verbs: tuple[str, ...] | None, pattern: str, key: str) -> _TextCase:
    return _TextCase(frozenset(codes), frozenset(verbs) if verbs else None, re.compile(pattern, re.IGNORECASE), key)


_FAILURES = tuple(range(400, 600))

_TEXT_CASES: tuple[_TextCase, ...] = (
    # First match wins: the more specific cases come first.
    _case(_FAILURES, None, r"too many (?:\w+ ){0,3}errors", "too-many-errors"),
    _case((530,), None, r"starttls|\btls\b|encrypt", "tls-required"),
    _case((530,), None, r"auth", "auth-required"),
    _case((503, 554, 454, 502), ("STARTTLS",), r"already|active", "tls-already-active"),
    _case((503, 502), ("STARTTLS",), r"not advertised|not offered|not enabled|not supported", "starttls-not-offered"),
    _case((503,), ("AUTH",), r"already auth", "already-authenticated"),
    _case((503,), ("AUTH",), r"transaction", "auth-in-transaction"),
    _case((503, 502), ("AUTH",), r"not advertised|not offered|not enabled|not supported", "auth-not-offered"),
    _case((500,), ("AUTH",), r"too long|line length", "auth-line-too-long"),
    _case((500,), ("AUTH",), r"not recogni[sz]ed|unrecogni[sz]ed|unknown command", "auth-not-recognized"),
    _case((535, 534), ("AUTH",), r"no mechanism|mechanism (?:is )?(?:not|un)", "auth-mechanism-unavailable"),
    _case((503,), None, r"\b(?:helo|ehlo)\b", "hello-first"),
    _case((503,), ("MAIL",), r"nested|already|in progress", "transaction-open"),
    _case((450, 451, 452, 421, 454), None, r"gr[ae]y", "greylisted"),
    _case((452, 552, 451, 550), ("RCPT",), r"too many recipients|recipient limit|too many rcpt", "too-many-recipients"),
    _case((550, 551, 553, 554, 450, 451, 454), ("RCPT",), r"relay", "relay-denied"),
    _case((550, 551, 553), ("RCPT",), r"unknown|no such|does not exist|not found|unrout(?:e)?able|invalid recipient",
          "no-such-recipient"),
    _case((552, 452, 450, 550, 554), ("RCPT", "MESSAGE", "DATA"), r"mailbox (?:is )?full|quota", "mailbox-full"),
    _case((550, 554), ("MAIL", "RCPT", "MESSAGE"), r"\bdmarc\b", "dmarc-policy"),
    _case((552,), ("MAIL",), r"size|too (?:big|large)|exceed", "too-big-declared"),
    _case((552, 554), ("MESSAGE",), r"size|too (?:big|large)|exceed", "too-big-sent"),
)

_ENHANCED_CASES: dict[tuple[int, str, str], str] = {
    (550, "RCPT", "5.1.1"): "no-such-recipient",
    (553, "RCPT", "5.1.1"): "no-such-recipient",
    (550, "RCPT", "5.7.1"): "recipient-refused-by-policy",
    (554, "RCPT", "5.7.1"): "recipient-refused-by-policy",
    (553, "RCPT", "5.7.1"): "recipient-refused-by-policy",
    (452, "RCPT", "4.5.3"): "too-many-recipients",
    (552, "RCPT", "5.5.3"): "too-many-recipients",
    (552, "RCPT", "5.2.2"): "mailbox-full",
    (452, "RCPT", "4.2.2"): "mailbox-full",
    (552, "MESSAGE", "5.2.2"): "mailbox-full",
    (452, "MESSAGE", "4.2.2"): "mailbox-full",
    (552, "MAIL", "5.3.4"): "too-big-declared",
    (552, "MAIL", "5.2.3"): "too-big-declared",
    (552, "MESSAGE", "5.3.4"): "too-big-sent",
    (554, "MESSAGE", "5.3.4"): "too-big-sent",
    (552, "MESSAGE", "5.2.3"): "too-big-sent",
    (500, "AUTH", "5.5.6"): "auth-line-too-long",
}
"""(code, command answered, enhanced code) -> situation, where the enhanced code alone tells the case."""
_ENHANCED_CASES.update({(550, verb, f"5.7.{detail}"): "authentication-failed"
                        for verb in ("MAIL", "RCPT", "MESSAGE") for detail in (20, 21, 22, 23, 26)})
# RFC 7372 §3: a failed DKIM (X.7.20-22) or SPF (X.7.23) check, or several (X.7.26), answered with 550.


def situation(code: int, verb: str | None, enhanced: str | None, text: str) -> str | None:
    """The key of the situation this reply is, or None: first by text where the RFCs tell the cases apart
    only by words, then by the enhanced code the server sent."""
    said = text[:TEXT_LIMIT]
    for case in _TEXT_CASES:
        if code in case.codes and (case.verbs is None or verb in case.verbs) and case.pattern.search(said):
            return case.key
    if verb is not None and enhanced is not None:
        return _ENHANCED_CASES.get((code, verb, enhanced))
    return None
