"""EHLO keywords (RFC 5321 §4.1.1.1 and each extension's own RFC): what each one lets the client do,
with its parameters worked into the text (a SIZE limit, the AUTH mechanisms).

Pure: no I/O. An unknown keyword is an extension the client ignores.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from smtpstep.protocol.explanations.model import Explanation

# ---------------------------------------------------------------------------------------------------
# EHLO keywords (RFC 5321 §4.1.1.1 and the extensions' own RFCs)
# ---------------------------------------------------------------------------------------------------

_SASL_MECHANISMS: dict[str, str] = {
    "PLAIN": "PLAIN (RFC 4616) sends user name and password in one base64 line, readable without TLS",
    "LOGIN": "LOGIN (non-standard) sends user name and password as base64 after two prompts, readable without TLS",
    "CRAM-MD5": "CRAM-MD5 (RFC 2195) answers a challenge with a keyed MD5 hash, so the password is not sent",
    "DIGEST-MD5": "DIGEST-MD5 is obsolete (RFC 6331 made it historic)",
    "SCRAM-SHA-1": "SCRAM-SHA-1 (RFC 5802) is a salted challenge-response that never sends the password",
    "SCRAM-SHA-256": "SCRAM-SHA-256 (RFC 7677) is a salted challenge-response that never sends the password",
    "OAUTHBEARER": "OAUTHBEARER (RFC 7628) sends an OAuth 2.0 token instead of a password",
    "XOAUTH2": "XOAUTH2 (Google's, non-standard) sends an OAuth 2.0 token instead of a password",
    "GSSAPI": "GSSAPI (RFC 4752) uses Kerberos single sign-on",
    "EXTERNAL": "EXTERNAL (RFC 4422) takes the identity from outside SASL, such as a TLS client certificate",
    "NTLM": "NTLM (non-standard) is Microsoft's Windows challenge-response",
    "ANONYMOUS": "ANONYMOUS (RFC 4505) logs in without an identity",
}


def _number(params: str) -> int | None:
    """The first parameter as a plain decimal number, or None (also for absurdly long ones)."""
    value = params.split()[0] if params.split() else ""
    return int(value) if re.fullmatch(r"[0-9]{1,30}", value) else None


def _size_text(params: str) -> str:
    if not params:
        return "No fixed limit is announced, though the server may still refuse a size it cannot take now."
    size = _number(params)
    if size is None:
        return f"The server gave \"{params.split()[0][:40]}\", which is not a usable number of bytes."
    if size == 0:
        return "The parameter 0 means the server has no fixed maximum message size."
    if size >= 1_048_576:
        tenths = (size * 10 + 524_288) // 1_048_576  # integer arithmetic: no float overflow
        shown = f"{tenths // 10} MB" if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10} MB"
    else:
        shown = f"{(size + 512) // 1024} KB" if size >= 1024 else f"{size} bytes"
    return f"This server takes messages of up to {size} bytes ({shown})."


def _auth_text(params: str) -> str:
    mechanisms = [m for m in params.upper().split() if m]
    if not mechanisms:
        return "The server lists no mechanisms."
    notes = [_SASL_MECHANISMS.get(m, f"{m} is a mechanism smtpstep does not describe") for m in mechanisms]
    return "Offered: " + "; ".join(notes) + "."


def _seconds_text(params: str) -> str:
    seconds = _number(params)
    if seconds is None:
        return "The server gives no usable minimum deadline."
    minutes = f" ({seconds // 60} minutes)" if seconds >= 60 and seconds % 60 == 0 else ""
    return f"The shortest deadline it accepts is {seconds} seconds{minutes}."


_LIMITS = {
    "RCPTMAX": "recipients per transaction",
    "RCPTDOMAINMAX": "recipient domains per transaction",
    "MAILMAX": "transactions per session",
}


def _limits_text(params: str) -> str:
    parts = []
    for item in params.split():
        name, _, value = item.partition("=")
        meaning = _LIMITS.get(name.upper())
        parts.append(f"{name.upper()}={value} ({meaning})" if meaning else item)
    return f"Limits given: {', '.join(parts)}." if parts else "No limits are given."


class _Keyword(NamedTuple):
    title: str
    text: str
    rfc: str
    params: Callable[[str], str] | None = None
    """Turns the keyword's parameters into a sentence; None to just quote them."""


_KEYWORDS: dict[str, _Keyword] = {
    "PIPELINING": _Keyword(
        "send commands in groups",
        "The client may send several commands without waiting for each reply, then match the replies to the "
        "commands in order. EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP may only end such a group, because "
        "the client must see their result before going on.",
        "RFC 2920 §3.1",
    ),
    "SIZE": _Keyword(
        "message size limit",
        "The client may declare a message's size with SIZE= on MAIL FROM, and the server can refuse a message "
        "that is too big with 552 before it is sent rather than after.",
        "RFC 1870 §3, §4, §6",
        _size_text,
    ),
    "8BITMIME": _Keyword(
        "8-bit message bodies",
        "The server accepts bodies with 8-bit bytes when MAIL FROM carries BODY=8BITMIME. "
        "Without it the client must send 7-bit text, encoding anything else as quoted-printable or base64.",
        "RFC 6152; RFC 5321 §2.4",
    ),
    "SMTPUTF8": _Keyword(
        "UTF-8 addresses and headers",
        "Mailbox names and header fields may contain UTF-8, such as é or 中文, when MAIL FROM carries the "
        "SMTPUTF8 parameter. Without it, addresses must be plain ASCII.",
        "RFC 6531 §3",
    ),
    "STARTTLS": _Keyword(
        "upgrade to TLS",
        "The client may turn this connection into a TLS one: it sends STARTTLS, gets 220 and does the "
        "handshake. Afterwards both sides forget what they learned before, so the client sends EHLO again.",
        "RFC 3207 §4, §4.2",
    ),
    "AUTH": _Keyword(
        "log in with SASL",
        "The client may authenticate with AUTH and one of the mechanisms listed. "
        "Only one AUTH may succeed per session, and never inside a mail transaction.",
        "RFC 4954 §3, §4",
        _auth_text,
    ),
    "ENHANCEDSTATUSCODES": _Keyword(
        "detailed status codes",
        "Replies start their text with a detailed status code such as 5.1.1 (class.subject.detail), "
        "more precise than the three-digit code; all but the greeting, the EHLO reply and 3xx replies.",
        "RFC 2034 §3, §4; RFC 3463 §2",
    ),
    "CHUNKING": _Keyword(
        "send the message in chunks with BDAT",
        "The client may send the message with BDAT <size> [LAST] instead of DATA. Each chunk has an exact byte "
        "count, so there is no dot-stuffing and no final dot; BINARYMIME needs it.",
        "RFC 3030 §2",
    ),
    "BINARYMIME": _Keyword(
        "binary message bodies",
        "The server accepts raw binary bodies with BODY=BINARYMIME on MAIL FROM. "
        "They can only be sent with BDAT (CHUNKING), since DATA ends at a line holding only a dot.",
        "RFC 3030 §3",
    ),
    "DSN": _Keyword(
        "delivery status notifications",
        "The client can ask for delivery reports: RET=FULL or RET=HDRS and ENVID= on MAIL FROM, "
        "NOTIFY=SUCCESS,FAILURE,DELAY or NOTIFY=NEVER and ORCPT= on RCPT TO.",
        "RFC 3461 §4",
    ),
    "HELP": _Keyword(
        "help text",
        "The server answers HELP, optionally with a topic, with text for humans (214 or 211).",
        "RFC 5321 §4.1.1.8",
    ),
    "VRFY": _Keyword(
        "verify a mailbox",
        "The client may ask whether a mailbox exists with VRFY. Many servers answer 252 (cannot verify, "
        "will try delivery) so as not to reveal who has an account.",
        "RFC 5321 §3.5, §4.1.1.6, §7.3",
    ),
    "EXPN": _Keyword(
        "expand a mailing list",
        "The client may ask the server to list the members of a mailing list with EXPN. "
        "Often disabled, since it reveals addresses.",
        "RFC 5321 §3.5, §4.1.1.7, §7.3",
    ),
    "ETRN": _Keyword(
        "start the queue for a domain",
        "The client may ask the server to start delivering mail queued for a domain (ETRN <domain>), "
        "useful for a site that is online only some of the time.",
        "RFC 1985",
    ),
    "REQUIRETLS": _Keyword(
        "require TLS all the way",
        "The client may mark a message with REQUIRETLS on MAIL FROM. Every server on the way must then pass "
        "it on only over TLS, to a server whose certificate it verified and that offers REQUIRETLS too, or "
        "else return it as undeliverable instead of sending it in clear text.",
        "RFC 8689 §2, §4",
    ),
    "DELIVERBY": _Keyword(
        "deliver by a deadline",
        "The client may set a deadline with BY=<seconds>;R or ;N on MAIL FROM: deliver in time, "
        "or else return the message (R) or notify the sender (N).",
        "RFC 2852",
        _seconds_text,
    ),
    "BURL": _Keyword(
        "fetch the message from IMAP",
        "The client may tell the server to fetch the message from an IMAP URL (BURL) instead of uploading it, "
        "which saves sending a large message twice.",
        "RFC 4468",
    ),
    "FUTURERELEASE": _Keyword(
        "hold for later release",
        "The client may ask the server to hold a message and release it later, with HOLDFOR= or HOLDUNTIL= "
        "on MAIL FROM.",
        "RFC 4865",
    ),
    "MT-PRIORITY": _Keyword(
        "message priorities",
        "The client may give a message a priority from -9 to 9 with MT-PRIORITY= on MAIL FROM, "
        "which servers use to order delivery.",
        "RFC 6710",
    ),
    "LIMITS": _Keyword(
        "announced limits",
        "The server announces how much it accepts, so the client can stay within it instead of running into "
        "refusals.",
        "RFC 9422",
        _limits_text,
    ),
}


# ---------------------------------------------------------------------------------------------------
# DSN parameters on MAIL and RCPT (RFC 3461 §4) and REQUIRETLS (RFC 8689 §2)
# ---------------------------------------------------------------------------------------------------

_PARAMETERS: dict[str, tuple[str, str, str]] = {
    "RET": ("what a failure report returns",
            "RET=FULL asks that a failure report carry the whole message, RET=HDRS only its header fields. "
            "Without RET the server chooses.",
            "RFC 3461 §4.3"),
    "ENVID": ("the envelope identifier",
              "ENVID= gives the transaction an identifier of the sender's choosing, which every delivery report "
              "returns, so the sender can match reports to what it sent. It is xtext: characters outside ! to ~, "
              "and + and =, are written +XX.",
              "RFC 3461 §4.4, §4"),
    "NOTIFY": ("when to report",
               "NOTIFY= says when this recipient's delivery should be reported: SUCCESS, FAILURE and DELAY in a "
               "comma list, or NEVER alone. Without it the server reports failures (and possibly delays) only.",
               "RFC 3461 §4.1"),
    "ORCPT": ("the original recipient",
              "ORCPT= carries the recipient as the sender first gave it (rfc822; then the address as xtext), so a "
              "report names that address even after forwarding rewrote it.",
              "RFC 3461 §4.2, §4"),
    "REQUIRETLS": ("TLS all the way",
                   "REQUIRETLS asks every server on the way to pass the message on only over TLS to a server whose "
                   "certificate verifies and that offers REQUIRETLS too, or else to return it. The client may use "
                   "it only under TLS, with a server that advertised it.",
                   "RFC 8689 §2, §4.2.1"),
}
"""The DSN and REQUIRETLS parameters of MAIL FROM and RCPT TO: (title, text, RFC)."""


def explain_parameters(parameters: tuple[str, ...]) -> list[Explanation]:
    """An explanation for each DSN or REQUIRETLS parameter among ``parameters`` (``RET=HDRS``, ``REQUIRETLS``...);
    other parameters are left out."""
    found = []
    for parameter in parameters:
        name, _, value = str(parameter).partition("=")
        entry = _PARAMETERS.get(name.upper())
        if entry is not None:
            title, text, rfc = entry
            shown = f" Here: {name.upper()}={value[:120]}." if value else ""
            found.append(Explanation(f"{name.upper()}: {title}", text + shown, rfc))
    return found


def explain_keyword(keyword: str, params: str = "") -> Explanation:
    """Explain one EHLO keyword (case-insensitive), working its parameters into the text."""
    name = str(keyword).strip().upper()
    params = str(params or "").strip()
    note = ""
    if name not in _KEYWORDS and "=" in name and name.partition("=")[0] in _KEYWORDS:
        # Some servers still send the pre-standard "AUTH=LOGIN PLAIN" line for old clients.
        name, _, first = name.partition("=")
        params = f"{first} {params}".strip()
        note = f" This line uses the old \"{name}=\" form that some servers keep for old clients."
    entry = _KEYWORDS.get(name)
    if entry is None:
        given = f" It came with the parameters \"{params}\"." if params else ""
        return Explanation(
            f"{name or '(empty)'}: unknown extension",
            f"An extension smtpstep does not know; the client ignores it and uses only the extensions it "
            f"understands.{given}",
            "RFC 5321 §2.2.2, §4.1.1.1",
        )
    if entry.params is not None:
        detail = " " + entry.params(params) if params or name == "SIZE" else ""
    else:
        detail = f" Parameters given: {params}." if params else ""
    return Explanation(f"{name}: {entry.title}", entry.text + detail + note, entry.rfc)

