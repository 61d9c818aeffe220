"""Enhanced status codes (RFC 3463; the IANA registry, RFC 5248): class.subject.detail, explained.

Given the reply code it came with, the explanation also says when the two disagree: a class that is not
the reply's first digit (RFC 2034 §4 says they must agree), or a detail RFC 3463 defines for permanent
errors only sent as a temporary one, or the other way round. The first digit of the reply decides
(RFC 5321 §4.2.1).

Pure: no I/O. A code the catalog does not know is explained by its class and subject.
"""

from __future__ import annotations

import re

from smtpstep.protocol.explanations.model import Entry, Explanation

# ---------------------------------------------------------------------------------------------------
# Enhanced status codes (RFC 3463; IANA registry, RFC 5248)
# ---------------------------------------------------------------------------------------------------

_ENHANCED_FORM = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
"""class.subject.detail: class 2, 4 or 5; subject and detail one to three digits (RFC 3463 §2)."""

_CLASSES: dict[int, tuple[str, str]] = {
    2: ("success", "Class 2: success."),
    4: ("persistent transient failure", "Class 4: a temporary failure, so sending again later may work."),
    5: ("permanent failure", "Class 5: a permanent failure, so resending it unchanged is not likely to work."),
}

_SUBJECTS: dict[int, Entry] = {
    0: Entry("other or undefined status", "No detail is given beyond the class.", "RFC 3463 §2, §3.1"),
    1: Entry(
        "addressing status",
        "Something about an address, the sender's or a recipient's: its syntax or whether it exists. "
        "The sender can usually correct it.",
        "RFC 3463 §2, §3.2",
    ),
    2: Entry(
        "mailbox status",
        "Something about the recipient's mailbox, such as full or disabled, which is in the recipient's hands.",
        "RFC 3463 §2, §3.3",
    ),
    3: Entry(
        "mail system status",
        "Something about the receiving mail system, such as out of storage, not accepting mail, "
        "or unable to handle a message this big.",
        "RFC 3463 §2, §3.4",
    ),
    4: Entry(
        "network and routing status",
        "Something on the way between the systems: no answer, a broken connection, DNS or routing trouble.",
        "RFC 3463 §2, §3.5",
    ),
    5: Entry(
        "mail delivery protocol status",
        "Something about the SMTP conversation itself: an invalid command, bad syntax, bad arguments.",
        "RFC 3463 §2, §3.6",
    ),
    6: Entry(
        "message content or media status",
        "Something about the message's content or its encoding, such as a conversion that was needed.",
        "RFC 3463 §2, §3.7",
    ),
    7: Entry(
        "security or policy status",
        "Security or policy: authentication, encryption, or a refusal by the receiver's rules "
        "(anti-spam checks such as SPF, DKIM and DMARC).",
        "RFC 3463 §2, §3.8",
    ),
}

_DETAILS: dict[tuple[int, int], Entry] = {
    (0, 0): Entry("other undefined status", "Only the class of the status is known.", "RFC 3463 §3.1"),
    (1, 0): Entry("other address status", "Something about an address caused this status.", "RFC 3463 §3.2"),
    (1, 1): Entry(
        "bad destination mailbox address",
        "The mailbox, the part left of the @, does not exist at the destination.",
        "RFC 3463 §3.2",
    ),
    (1, 2): Entry(
        "bad destination system address",
        "The domain, the part right of the @, does not exist or cannot accept mail.",
        "RFC 3463 §3.2",
    ),
    (1, 3): Entry(
        "bad destination mailbox address syntax",
        "The recipient address is not written correctly.",
        "RFC 3463 §3.2",
    ),
    (1, 4): Entry(
        "destination mailbox address ambiguous",
        "The address matches more than one mailbox at the destination.",
        "RFC 3463 §3.2",
    ),
    (1, 5): Entry("destination address valid", "The recipient address is valid.", "RFC 3463 §3.2"),
    (1, 6): Entry(
        "destination mailbox has moved",
        "The address used to be valid but takes no mail any more, and there is no forwarding address.",
        "RFC 3463 §3.2",
    ),
    (1, 7): Entry(
        "bad sender's mailbox address syntax",
        "The sender address is not written correctly.",
        "RFC 3463 §3.2",
    ),
    (1, 8): Entry(
        "bad sender's system address",
        "The sender's domain does not exist or cannot accept mail, so a bounce could never reach it.",
        "RFC 3463 §3.2",
    ),
    (1, 10): Entry(
        "recipient address has null MX",
        "The recipient's domain publishes a null MX: it declares that it accepts no mail.",
        "RFC 7505; RFC 5248",
    ),
    (2, 0): Entry(
        "other or undefined mailbox status",
        "The mailbox exists, but something about it caused this status.",
        "RFC 3463 §3.3",
    ),
    (2, 1): Entry(
        "mailbox disabled",
        "The mailbox exists but is not accepting messages, for a while or for good.",
        "RFC 3463 §3.3",
    ),
    (2, 2): Entry(
        "mailbox full",
        "The recipient's mailbox is over its quota; space frees up when the recipient deletes mail.",
        "RFC 3463 §3.3",
    ),
    (2, 3): Entry(
        "message length exceeds administrative limit",
        "The message is bigger than this mailbox's own size limit.",
        "RFC 3463 §3.3",
    ),
    (2, 4): Entry(
        "mailing list expansion problem",
        "The address is a mailing list that could not be expanded into its members.",
        "RFC 3463 §3.3",
    ),
    (3, 0): Entry(
        "other or undefined mail system status",
        "The destination system normally accepts mail, but something about it caused this status.",
        "RFC 3463 §3.4",
    ),
    (3, 1): Entry("mail system full", "The receiving system has run out of storage.", "RFC 3463 §3.4"),
    (3, 2): Entry(
        "system not accepting network messages",
        "The receiving host is not taking messages, for example during maintenance or a shutdown.",
        "RFC 3463 §3.4; RFC 7504",
    ),
    (3, 3): Entry(
        "system not capable of selected features",
        "The receiving system does not support a feature the message asked for.",
        "RFC 3463 §3.4",
    ),
    (3, 4): Entry(
        "message too big for system",
        "The message is larger than the receiving system accepts for any message.",
        "RFC 3463 §3.4",
    ),
    (3, 5): Entry(
        "system incorrectly configured",
        "The receiving system is not set up in a way that lets it accept this message.",
        "RFC 3463 §3.4",
    ),
    (4, 0): Entry(
        "other or undefined network or routing status",
        "Something went wrong in the network, and it is not clear what.",
        "RFC 3463 §3.5",
    ),
    (4, 1): Entry(
        "no answer from host",
        "The next host did not answer the connection attempt.",
        "RFC 3463 §3.5",
    ),
    (4, 2): Entry(
        "bad connection",
        "A connection was made but broke, or timed out, before the transaction was complete.",
        "RFC 3463 §3.5",
    ),
    (4, 3): Entry(
        "directory server failure",
        "A directory server the mail system needs, typically DNS, was not available.",
        "RFC 3463 §3.5",
    ),
    (4, 4): Entry(
        "unable to route",
        "The mail system could not work out where to send the message next.",
        "RFC 3463 §3.5",
    ),
    (4, 5): Entry(
        "mail system congestion",
        "The mail system is congested and could not take the message now.",
        "RFC 3463 §3.5",
    ),
    (4, 6): Entry(
        "routing loop detected",
        "The message went round in a loop and was forwarded too many times.",
        "RFC 3463 §3.5",
    ),
    (4, 7): Entry(
        "delivery time expired",
        "The message waited too long on the way and was given up.",
        "RFC 3463 §3.5",
    ),
    (5, 0): Entry(
        "other or undefined protocol status",
        "Something was wrong with the SMTP conversation, and no better detail fits.",
        "RFC 3463 §3.6",
    ),
    (5, 1): Entry(
        "invalid command",
        "The command was out of sequence or is not supported.",
        "RFC 3463 §3.6",
    ),
    (5, 2): Entry(
        "syntax error",
        "The command could not be understood: wrong syntax, or an unrecognized command.",
        "RFC 3463 §3.6",
    ),
    (5, 3): Entry(
        "too many recipients",
        "The transaction has more recipients than the server takes at once; "
        "send the rest in another transaction.",
        "RFC 3463 §3.6",
    ),
    (5, 4): Entry(
        "invalid command arguments",
        "A valid command was given arguments that are out of range or unknown.",
        "RFC 3463 §3.6",
    ),
    (5, 5): Entry(
        "wrong protocol version",
        "The two sides disagree on the protocol version and could not sort it out.",
        "RFC 3463 §3.6",
    ),
    (5, 6): Entry(
        "authentication exchange line too long",
        "A base64 line sent during AUTH was longer than the server's buffer for this mechanism.",
        "RFC 4954 §6",
    ),
    (6, 0): Entry(
        "other or undefined media error",
        "Something about the content of the message made it undeliverable.",
        "RFC 3463 §3.7",
    ),
    (6, 1): Entry(
        "media not supported",
        "The kind of content in the message is not supported on the way to the recipient.",
        "RFC 3463 §3.7",
    ),
    (6, 2): Entry(
        "conversion required and prohibited",
        "The content would have to be converted to be delivered, but conversion is not allowed.",
        "RFC 3463 §3.7",
    ),
    (6, 3): Entry(
        "conversion required but not supported",
        "The content would have to be converted, for example from 8-bit to 7-bit, and no host can do it.",
        "RFC 3463 §3.7",
    ),
    (6, 4): Entry(
        "conversion with loss performed",
        "The message was delivered, but a conversion on the way lost some of its content.",
        "RFC 3463 §3.7",
    ),
    (6, 5): Entry("conversion failed", "A needed conversion of the content did not work.", "RFC 3463 §3.7"),
    (6, 7): Entry(
        "non-ASCII addresses not permitted",
        "An address contains non-ASCII characters, which this sender or recipient may not use.",
        "RFC 6531 §3.5, §4.2",
    ),
    (6, 8): Entry(
        "UTF-8 string reply required, not permitted by the client",
        "The answer, to VRFY or EXPN say, would have to show a mailbox name in UTF-8, but the client did not "
        "allow UTF-8 in replies with the SMTPUTF8 parameter.",
        "RFC 6531 §3.7.4.2, §4.2",
    ),
    (6, 9): Entry(
        "UTF-8 header message cannot be transferred",
        "After the final dot: the message has UTF-8 header fields and at least one recipient cannot take them, "
        "so the whole message is refused.",
        "RFC 6531 §3.5, §4.2",
    ),
    (6, 10): Entry(
        "duplicate of X.6.8 (deprecated)",
        "An old code for a UTF-8 reply the client did not allow; RFC 6531 deprecates it in favour of X.6.8.",
        "RFC 6531 §4.2",
    ),
    (7, 0): Entry(
        "other or undefined security status",
        "A security reason caused this status, and no more is said, possibly on purpose.",
        "RFC 3463 §3.8",
    ),
    (7, 1): Entry(
        "delivery not authorized, message refused",
        "The receiver's policy does not allow this sender to send to this recipient, "
        "for example relaying denied or a blocked sender.",
        "RFC 3463 §3.8",
    ),
    (7, 2): Entry(
        "mailing list expansion prohibited",
        "The sender may not send to this mailing list.",
        "RFC 3463 §3.8",
    ),
    (7, 3): Entry(
        "security conversion required but not possible",
        "The message would have to be converted to another secure messaging format, which is not possible.",
        "RFC 3463 §3.8",
    ),
    (7, 4): Entry(
        "security features not supported",
        "The message uses security features that cannot be supported on the way.",
        "RFC 3463 §3.8",
    ),
    (7, 5): Entry(
        "cryptographic failure",
        "A system that should validate or decrypt the message could not, for lack of a valid key.",
        "RFC 3463 §3.8",
    ),
    (7, 6): Entry(
        "cryptographic algorithm not supported",
        "A system that should validate or decrypt the message does not support its algorithm.",
        "RFC 3463 §3.8",
    ),
    (7, 7): Entry(
        "message integrity failure",
        "The message could not be validated because it was corrupted or altered.",
        "RFC 3463 §3.8",
    ),
    (7, 8): Entry(
        "authentication credentials invalid",
        "The credentials given with AUTH, a password or a token, were invalid or insufficient; the client "
        "should ask the user for new ones.",
        "RFC 4954 §6",
    ),
    (7, 9): Entry(
        "authentication mechanism too weak",
        "The chosen AUTH mechanism is weaker than the server allows for this user; "
        "the client should retry with a stronger one.",
        "RFC 4954 §6",
    ),
    (7, 10): Entry(
        "encryption needed",
        "An encrypted connection, such as TLS, is needed first: for this authentication mechanism, or, "
        "with REQUIRETLS, to pass the message on to the next server.",
        "RFC 5248; RFC 8689 §4.2.1",
    ),
    (7, 11): Entry(
        "encryption required for requested authentication mechanism",
        "The chosen AUTH mechanism may only be used on an encrypted connection.",
        "RFC 4954 §6",
    ),
    (7, 12): Entry(
        "password transition needed",
        "The user has to authenticate once with PLAIN before the chosen mechanism can work.",
        "RFC 4954 §6",
    ),
    (7, 13): Entry(
        "user account disabled",
        "The credentials were right, but the account is disabled until an administrator enables it again.",
        "RFC 5248",
    ),
    (7, 20): Entry(
        "no passing DKIM signature found",
        "The message carries no DKIM signature that verifies. RFC 7372 notes that refusing mail for this goes "
        "against the advice of RFC 6376 §6.1.",
        "RFC 7372 §3.1; RFC 6376 §6.1",
    ),
    (7, 21): Entry(
        "no acceptable DKIM signature found",
        "The message has DKIM signatures that verify, but none the receiver accepts.",
        "RFC 7372 §3.1; RFC 6376 §6.1",
    ),
    (7, 22): Entry(
        "no valid author-matched DKIM signature found",
        "The message has DKIM signatures that verify, but none by a domain matching the author's address in "
        "the From header field: a special case of X.7.21.",
        "RFC 7372 §3.1; RFC 6376 §6.1",
    ),
    (7, 23): Entry(
        "SPF validation failed",
        "The SPF check gave \"fail\": the envelope sender's domain does not allow the sending host to send its "
        "mail. It takes the place of the 5.7.1 that RFC 7208 §8.4 names for this.",
        "RFC 7372 §3.2; RFC 7208 §8.4",
    ),
    (7, 24): Entry(
        "SPF validation error",
        "Checking the sender's SPF record ended in an error, a broken record (permerror) or a DNS problem "
        "(temperror), so SPF could say nothing.",
        "RFC 7372 §3.2; RFC 7208 §8.6, §8.7",
    ),
    (7, 25): Entry(
        "reverse DNS validation failed",
        "The sending host's IP address failed the receiver's reverse DNS check.",
        "RFC 7372 §3.3",
    ),
    (7, 26): Entry(
        "multiple authentication checks failed",
        "The message failed more than one of the receiver's authentication checks, such as SPF and DKIM "
        "together for DMARC; which ones is not said.",
        "RFC 7372 §3.4",
    ),
    (7, 27): Entry(
        "sender address has null MX",
        "The sender's domain publishes a null MX, so it can receive no bounce, and the receiver refuses "
        "mail from it.",
        "RFC 7505; RFC 5248",
    ),
    (7, 30): Entry(
        "REQUIRETLS support required",
        "The message was sent with REQUIRETLS, and no server on the way to the recipient offers REQUIRETLS, "
        "so it is returned rather than passed on without that guarantee.",
        "RFC 8689 §4.2.1, §7",
    ),
}

_PERMANENT_ONLY = frozenset({(1, 1), (1, 2), (1, 3), (1, 6), (2, 3), (3, 4), (5, 1), (5, 2), (5, 4), (6, 1),
                             (7, 1), (7, 2), (7, 3), (7, 4)})
"""Details RFC 3463 §3 calls useful only as a permanent error (X.2.3: should be used as one)."""

_TRANSIENT_ONLY = frozenset({(2, 2), (3, 1), (4, 1), (4, 2), (4, 3), (4, 5), (4, 6), (4, 7)})
"""Details RFC 3463 §3 calls useful only as a persistent transient error (X.2.2: should be used as one)."""

_ENHANCED_EXACT: dict[str, Entry] = {
    "2.0.0": Entry("success", "Everything went fine, with no further detail.", "RFC 3463 §3.1"),
    "2.1.0": Entry(
        "other address status",
        "RFC 3463 leaves this detail open; sent with 250 after MAIL FROM, as in RFC 2034's own example, it "
        "means the sender address is fine.",
        "RFC 3463 §3.2; RFC 2034 §6",
    ),
    "2.1.5": Entry(
        "recipient address valid",
        "Sent with 250 after RCPT TO: the recipient address is valid.",
        "RFC 3463 §3.2",
    ),
    "2.7.0": Entry(
        "authentication succeeded",
        "Sent with 235 after AUTH: the client is now authenticated.",
        "RFC 4954 §6; RFC 3463 §3.8",
    ),
    "4.7.0": Entry(
        "temporary security failure",
        "A security step failed for now, such as TLS not available or a temporary authentication failure "
        "(both 454). Try again later.",
        "RFC 3463 §3.8; RFC 4954 §6; RFC 5248",
    ),
    "5.7.0": Entry(
        "refused for a security reason",
        "A security or policy condition is not met, as in 530 \"Must issue a STARTTLS command first\" or "
        "530 \"Authentication required\": both use 5.7.0, so only the text tells which. Meet the condition, "
        "then try again.",
        "RFC 3463 §3.8; RFC 3207 §4; RFC 4954 §6",
    ),
}


def explain_enhanced(enhanced: str, *, code: int | None = None) -> Explanation | None:
    """Explain an RFC 3463 code such as "5.1.1"; None if the text is not of the form class.subject.detail.

    With ``code``, the reply code it came with, a class that disagrees with the reply's first digit is
    named as such (RFC 2034 §4), and so is a detail sent with a class RFC 3463 does not define it for.
    """
    if not isinstance(enhanced, str):
        return None
    match = _ENHANCED_FORM.match(enhanced.strip())
    if match is None:
        return None
    klass, subject, detail = (int(part) for part in match.groups())
    shown = f"{klass}.{subject}.{detail}"
    class_name, class_text = _CLASSES[klass]
    exact = _ENHANCED_EXACT.get(shown)
    known = _DETAILS.get((subject, detail))
    area = _SUBJECTS.get(subject)
    if exact is not None:
        title, text, rfc, class_text = f"{shown}: {exact.title}", exact.text, exact.rfc, ""
    elif known is not None:
        title, text, rfc = f"{shown}: {known.title}", known.text, known.rfc
    elif area is not None:
        title, rfc = f"{shown}: {area.title}", area.rfc
        text = f"smtpstep has no entry for detail {detail}, but subject {subject} means: " \
               f"{area.text[:1].lower()}{area.text[1:]}"
    else:
        title, rfc = f"{shown}: {class_name}", "RFC 3463 §2"
        text = f"smtpstep has no entry for subject {subject}, so only the class says something."
    first = code // 100 if isinstance(code, int) and 100 <= code <= 999 else None
    note = class_text
    if first is not None and first != klass:
        title = f"{shown}: class {klass} with a {first}xx reply"
        note = (f"The server sent class {klass} with reply code {code}, but the two must agree, so the "
                f"three-digit code decides.")
        rfc = f"{rfc}; RFC 2034 §4; RFC 3463 §2"
    elif klass == 4 and (subject, detail) in _PERMANENT_ONLY:
        note = (f"RFC 3463 defines X.{subject}.{detail} as a permanent error only; sent with a 4, the server "
                f"means a temporary refusal, and the first digit decides.")
    elif klass == 5 and (subject, detail) in _TRANSIENT_ONLY:
        note = (f"RFC 3463 defines X.{subject}.{detail} as a persistent transient error; sent with a 5, the "
                f"server makes it permanent, and the first digit decides.")
    return Explanation(title, f"{text} {note}".strip(), rfc)
