"""The built-in server's delivery policy and the trace fields it prepends: which recipients it accepts
(test domains only: it never relays) and the Return-Path and Received lines of a final delivery.

Pure: no aiosmtpd, no I/O.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from typing import Any

from smtpstep.protocol.server.facts import BANNER_NAME

TEST_DOMAINS = ("localhost", "example.com", "example.org", "example.net")
"""Recipient domains delivered locally, with their subdomains (RFC 2606 §2-3)."""
TEST_TOP_LEVEL_DOMAINS = ("test",)
"""Top-level domains whose every name is delivered locally (RFC 2606 §2, RFC 6761 §6.2)."""
UNKNOWN_LOCAL_PARTS = frozenset({"nobody", "unknown"})
"""Local parts that get "no such mailbox", so lessons can show a permanent RCPT failure."""

RELAY_DENIED = "550 5.7.1 Relaying denied: smtpstep's built-in server only delivers to test domains"



def is_test_domain(domain: str) -> bool:
    """Whether the built-in server delivers mail for ``domain`` (case-insensitive)."""
    name = domain.rstrip(".").lower()
    if not name:
        return False
    if any(name == d or name.endswith("." + d) for d in TEST_DOMAINS):
        return True
    return any(name.endswith("." + tld) for tld in TEST_TOP_LEVEL_DOMAINS)


def recipient_policy(address: str) -> str | None:
    """The refusal for RCPT TO ``address``, or None to accept it.

    Checks relaying first, as a real MX does: a stranger's domain is refused whatever the mailbox.
    """
    local_part, at, domain = address.rpartition("@")
    if not at:
        # RFC 5321 §4.1.1.3: "postmaster" without a domain must be accepted.
        if address.lower() == "postmaster":
            return None
        return f"550 5.1.3 <{address}>: recipient address needs a domain"
    if not is_test_domain(domain):
        return RELAY_DENIED  # RFC 5321 §3.6.2, RFC 3463 §3.8 (X.7.1 delivery not authorized)
    if local_part.lower() in UNKNOWN_LOCAL_PARTS:
        return f"550 5.1.1 <{address}>: no such mailbox here"  # RFC 3463 §3.2
    return None


# --- Trace fields -------------------------------------------------------------------------------


def with_protocol(*, esmtp: bool, tls: bool, authenticated: bool, smtputf8: bool = False) -> str:
    """The ``with`` keyword of a Received field: RFC 3848 (ESMTPSA and kin), RFC 6531 §4.3 (UTF8SMTP)."""
    if not esmtp:
        return "SMTP"
    base = "UTF8SMTP" if smtputf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


_UNSAFE_IN_FIELD = re.compile(r"[\x00-\x20\x7f]")


def trace_fields(
    *,
    mail_from: str,
    rcpt_tos: list[str] | tuple[str, ...],
    helo: str,
    peer: Any,
    protocol: str,
    tls_details: str | None,
    when: datetime.datetime,
    by: str = BANNER_NAME,
) -> bytes:
    """The ``Return-Path:`` and ``Received:`` fields a final-delivery server prepends (RFC 5321 §4.4).

    ``for <rcpt>`` appears only with a single recipient: listing them all would tell every
    recipient who else got the message (RFC 5321 §7.2). The client name is the EHLO/HELO argument,
    unverified, followed by the peer's address literal; no reverse DNS lookup is made.
    Lines end in CRLF, as the message body does.
    """
    reverse_path = "" if mail_from in ("", "<>") else mail_from
    helo_name = _UNSAFE_IN_FIELD.sub("?", helo or "unknown")
    lines = [
        f"Return-Path: <{reverse_path}>",
        f"Received: from {helo_name} ({_address_literal(peer)})",
    ]
    if tls_details:
        lines.append(f"\t({tls_details})")
    by_line = f"\tby {by} (smtpstep local server) with {protocol}"
    if len(rcpt_tos) == 1:
        lines.append(by_line)
        lines.append(f"\tfor <{rcpt_tos[0]}>; {email.utils.format_datetime(when)}")
    else:
        lines.append(f"{by_line}; {email.utils.format_datetime(when)}")
    text = "\r\n".join(lines) + "\r\n"
    # Under SMTPUTF8 addresses may be UTF-8 (RFC 6532 §3.2); surrogateescape keeps raw 8-bit bytes.
    return text.encode("utf-8", "surrogateescape")


def _address_literal(peer: Any) -> str:
    # RFC 5321 §4.1.3 address literals: [192.0.2.1] and [IPv6:2001:db8::1].
    if isinstance(peer, tuple) and peer:
        ip = str(peer[0])
        return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"
    return "unknown"

