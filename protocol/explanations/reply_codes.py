"""Reply codes: what a three-digit SMTP reply means, digit by digit and, where the catalog knows it, in
reply to the command it answers (RFC 5321 §4.2), with the enhanced status code it carried (RFC 3463).

An explanation is chosen by what was said, most specific first: a situation told by the reply's text or
enhanced code (``situations``), then the code in answer to that command, then the code alone, then only
its digits. The enhanced code shown is the one the server sent, read off its text; none is ever implied.

Pure: no I/O. It never raises for odd input: an unknown code gets an explanation built from its digits
that says this exact reply is not in the catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smtpstep.protocol.explanations.enhanced_codes import explain_enhanced
from smtpstep.protocol.explanations.model import Entry, Explanation
from smtpstep.protocol.explanations.situations import SITUATIONS, TEXT_LIMIT, situation

_SENT_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
"""An enhanced status code at the start of a reply's text, whatever its class (RFC 3463 §2, RFC 2034 §4)."""


@dataclass(frozen=True)
class ReplyExplanation:
    """Everything the pane says about one reply: its digits, its meaning and its enhanced status code."""

    code: int
    """The three-digit reply code."""
    kind: str
    """What the first digit says, such as "transient negative" (RFC 5321 §4.2.1)."""
    kind_text: str
    """One sentence: what the first digit tells the client to do."""
    category: str
    """What the second digit says, such as "mail system" (RFC 5321 §4.2.1)."""
    meaning: Explanation
    """The specific code, in the context of the command it answers when that was given."""
    enhanced: Explanation | None
    """The RFC 3463 status code the reply carried, if any."""
    key: str = ""
    """Which catalog entry ``meaning`` is: a situation ("tls-required"), a code after a command ("530 AUTH"),
    a code alone ("530"), or "unlisted" when only the digits could be read."""
    sent_enhanced: str | None = None
    """The enhanced status code exactly as the server sent it, or None if it sent none."""

    @property
    def in_catalog(self) -> bool:
        """False when the catalog has no entry for this reply and ``meaning`` comes from its digits."""
        return self.key != "unlisted"

    def lines(self) -> list[str]:
        """A few ready-to-print lines summarising the reply, each with its citation."""
        first, second = _digits(self.code)
        out = [f"{self.meaning.title}  ({self.meaning.rfc})", self.meaning.text]
        if first is None:
            out.append(f"{self.kind}: {self.kind_text}  (RFC 5321 §4.2)")
        else:
            out.append(f"First digit {first}, {self.kind}: {self.kind_text}  (RFC 5321 §4.2.1)")
            blurb = _CATEGORY_TEXT.get(self.category, "")
            out.append(f"Second digit {second}, {self.category}{': ' + blurb if blurb else ''}  (RFC 5321 §4.2.1)")
        if self.enhanced is not None:
            out += [f"{self.enhanced.title}  ({self.enhanced.rfc})", self.enhanced.text]
        return out


# ---------------------------------------------------------------------------------------------------
# Reply codes (RFC 5321 §4.2)
# ---------------------------------------------------------------------------------------------------

_KINDS: dict[int, tuple[str, str]] = {
    2: ("positive completion", "done; the server did what was asked and the client may go on."),
    3: ("positive intermediate", "go on; the server accepted the command and waits for the client to send more."),
    4: ("transient negative", "not now; the same command may work if the client tries again later."),
    5: ("permanent negative", "failed for good; the client should not repeat the same request unchanged."),
}
_OUT_OF_RANGE = (
    "out of range",
    "SMTP replies start with 2, 3, 4 or 5, so a client should normally treat anything else as a fatal error.",
)

_CATEGORIES: dict[int, str] = {
    0: "syntax",
    1: "information",
    2: "connections",
    3: "unspecified",
    4: "unspecified",
    5: "mail system",
}
_CATEGORY_TEXT: dict[str, str] = {
    "syntax": "about the form of the command, or a command the server does not implement",
    "information": "an answer to a request for information, such as status or help",
    "connections": "about the connection itself",
    "unspecified": "RFC 5321 gives this digit no category",
    "mail system": "about the receiving mail system and the mail it was asked to handle",
}

_REPLIES: dict[int, Entry] = {
    211: Entry(
        "system status",
        "The server answers a request for status or help with information about itself. "
        "It is meant for people to read and changes nothing in the session.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    214: Entry(
        "help message",
        "Help text for a human, usually the answer to HELP. The client ignores its content and carries on.",
        "RFC 5321 §4.1.1.8, §4.2.3",
    ),
    220: Entry(
        "service ready",
        "The server is ready. As the first reply on a connection it is the greeting, naming the server; "
        "in answer to STARTTLS it means the TLS handshake may start.",
        "RFC 5321 §3.1, §4.2.3; RFC 3207 §4",
    ),
    221: Entry(
        "closing connection",
        "The server says goodbye and closes the connection, normally in answer to QUIT.",
        "RFC 5321 §3.8, §4.1.1.10",
    ),
    235: Entry(
        "authentication succeeded",
        "The AUTH exchange worked: the server knows who the client is for the rest of this session. "
        "No second AUTH is allowed in the same session.",
        "RFC 4954 §4, §6",
    ),
    250: Entry(
        "requested action completed",
        "The command worked. What that means depends on the command: the extension list after EHLO, "
        "sender or recipient accepted after MAIL or RCPT, message accepted after the final dot.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    251: Entry(
        "user not local, will forward",
        "The mailbox is not on this server, but the server accepts the recipient anyway and will forward "
        "the message to the address it names.",
        "RFC 5321 §3.4, §4.2.3",
    ),
    252: Entry(
        "cannot verify, will try",
        "The server cannot or will not verify the mailbox, but will accept a message for it and attempt "
        "delivery. A site that turns VRFY off for security must answer 252, so 252 says nothing about whether "
        "the mailbox exists.",
        "RFC 5321 §3.5.3, §4.2.2, §7.3",
    ),
    334: Entry(
        "authentication challenge",
        "The server waits for the next step of the AUTH exchange; the text after 334 is a base64 challenge, "
        "possibly empty. The client answers with one base64 line, or a single '*' to cancel.",
        "RFC 4954 §4",
    ),
    354: Entry(
        "start mail input",
        "The server is ready for the message itself. The client sends the header and body, doubles any dot "
        "that starts a line, and ends with a line holding only a dot (<CRLF>.<CRLF>).",
        "RFC 5321 §3.3, §4.1.1.4, §4.5.2",
    ),
    421: Entry(
        "service not available, closing",
        "The server is closing this connection, for example because it is overloaded or shutting down. "
        "It may say this in answer to any command; the client should try again later.",
        "RFC 5321 §3.8, §4.2.3, §4.3.2",
    ),
    432: Entry(
        "password transition needed",
        "The user has to move to the chosen mechanism, typically by authenticating once with PLAIN over TLS. "
        "After that the chosen mechanism should work in later sessions.",
        "RFC 4954 §6",
    ),
    450: Entry(
        "mailbox temporarily unavailable",
        "The mailbox cannot take mail just now: it is busy, or the server holds back for a while on purpose "
        "(greylisting works this way). The client should try again later.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    451: Entry(
        "local error in processing",
        "Something went wrong on the server's side and it aborted the action. It is temporary: the client "
        "should try again later.",
        "RFC 5321 §4.2.3",
    ),
    452: Entry(
        "insufficient system storage",
        "The server has no room just now, or the transaction already has as many recipients as it takes. "
        "Try again later, or send the remaining recipients in another transaction.",
        "RFC 5321 §4.2.3, §4.5.3.1.10",
    ),
    454: Entry(
        "temporary failure of TLS or authentication",
        "In answer to STARTTLS it means TLS is not available right now; in answer to AUTH, a temporary "
        "authentication failure on the server's side. Either way the client may try again later.",
        "RFC 3207 §4; RFC 4954 §6",
    ),
    455: Entry(
        "cannot accommodate parameters",
        "The server understands the parameters given with MAIL FROM or RCPT TO but cannot meet them right now. "
        "Try again later.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    500: Entry(
        "command unrecognized",
        "The server did not recognize the command, or the line was too long. "
        "Check the spelling, and keep a command line within 512 octets.",
        "RFC 5321 §4.2.3, §4.3.2, §4.5.3.1.4",
    ),
    501: Entry(
        "syntax error in parameters",
        "The command is known but its arguments are wrong: a malformed address, or an argument where none "
        "is allowed (DATA, RSET, QUIT). Fix the arguments and send the command again.",
        "RFC 5321 §4.2.3, §4.3.2",
    ),
    502: Entry(
        "command not implemented",
        "The server knows this command but does not offer it. "
        "A server must not list in its EHLO reply an extension it would answer with 502.",
        "RFC 5321 §4.2.3, §4.2.4",
    ),
    503: Entry(
        "bad sequence of commands",
        "The command came at the wrong moment, such as RCPT before MAIL or DATA before any accepted recipient. "
        "The server's state is unchanged: send the missing step first.",
        "RFC 5321 §3.3, §4.1.4, §4.2.3",
    ),
    504: Entry(
        "command parameter not implemented",
        "The command is implemented, but not with this parameter, for example AUTH with a mechanism the "
        "server does not support.",
        "RFC 5321 §4.2.3; RFC 4954 §4",
    ),
    521: Entry(
        "host does not accept mail",
        "This host accepts no mail at all, under any circumstances, and says so instead of the 220 greeting; "
        "there is no point trying it again. The client sends QUIT.",
        "RFC 7504 §1, §3",
    ),
    530: Entry(
        "access denied until a condition is met",
        "The server refuses this command until something is done first: STARTTLS "
        "(\"Must issue a STARTTLS command first\") or AUTH (\"Authentication required\"). "
        "Only the text tells which: both RFCs give the two the same enhanced code.",
        "RFC 3207 §4; RFC 4954 §6",
    ),
    534: Entry(
        "authentication mechanism too weak",
        "The server's policy does not allow this mechanism for this user. "
        "The client should retry AUTH with a stronger mechanism.",
        "RFC 4954 §6",
    ),
    535: Entry(
        "authentication credentials invalid",
        "The credentials, a password or a token, were invalid or insufficient. "
        "The client should ask the user for new credentials rather than repeat the same ones.",
        "RFC 4954 §6",
    ),
    538: Entry(
        "encryption required for this mechanism",
        "This mechanism may only be used on an encrypted connection, so STARTTLS must come first. "
        "RFC 4954 keeps 538 for history only and says servers should not offer such mechanisms before TLS, "
        "yet some servers still answer AUTH with it.",
        "RFC 4954 §6",
    ),
    550: Entry(
        "mailbox unavailable",
        "The action was refused for good: the mailbox does not exist, access is denied, or policy forbids it "
        "(relaying denied, suspected spam). The client should not retry it unchanged.",
        "RFC 5321 §3.3, §4.2.2, §4.2.3",
    ),
    551: Entry(
        "user not local",
        "The mailbox is not on this server and the recipient is refused; the text may name an address to try "
        "instead. A client should act on that address only if it trusts the server, since a man in the middle "
        "could supply it.",
        "RFC 5321 §3.4, §4.2.3, §7.4",
    ),
    552: Entry(
        "exceeded storage allocation",
        "The message is too big, or the mailbox has no room for it. "
        "A size declared with SIZE= in MAIL FROM that is over the server's limit also gets 552.",
        "RFC 5321 §4.2.3; RFC 1870 §6.1",
    ),
    553: Entry(
        "mailbox name not allowed",
        "The address is refused, typically because its syntax is wrong or the server does not accept "
        "that sender address.",
        "RFC 5321 §3.3, §4.2.3",
    ),
    554: Entry(
        "transaction failed",
        "The transaction failed for good, often a policy refusal. "
        "As the first reply on a connection, instead of 220, it means \"no SMTP service here\".",
        "RFC 5321 §3.1, §4.2.3",
    ),
    555: Entry(
        "MAIL FROM/RCPT TO parameters not recognized",
        "The server does not know or implement a parameter given with MAIL FROM or RCPT TO, "
        "such as SIZE= or BODY= sent when the extension was not offered.",
        "RFC 5321 §4.2.3",
    ),
    556: Entry(
        "domain does not accept mail",
        "The recipient's domain accepts no mail at all, for example because it publishes a null MX. "
        "The client gives up on this address.",
        "RFC 7504 §1; RFC 7505",
    ),
}

_VERB_ALIASES: dict[str, str] = {
    "CONNECT": "GREETING",
    "BANNER": "GREETING",
    "MAIL_FROM": "MAIL",
    "RCPT_TO": "RCPT",
    "AUTH_RESPONSE": "AUTH",
    "AUTH_CHALLENGE": "AUTH",
    ".": "MESSAGE",
    "DOT": "MESSAGE",
    "BODY": "MESSAGE",
    "END_OF_DATA": "MESSAGE",
    "FINAL_DOT": "MESSAGE",
    "BDAT_LAST": "MESSAGE",  # the reply to the last chunk is the reply to the whole message (RFC 3030 §2)
}

_REPLIES_BY_VERB: dict[tuple[int, str], Entry] = {
    (220, "GREETING"): Entry(
        "service ready (greeting)",
        "The server greets the new connection and gives its name as the first word. "
        "The client may now introduce itself with EHLO.",
        "RFC 5321 §3.1, §4.2, §4.3.1",
    ),
    (220, "STARTTLS"): Entry(
        "ready to start TLS",
        "The server agrees to STARTTLS. The client must start the TLS handshake at once, "
        "before sending anything else.",
        "RFC 3207 §4",
    ),
    (221, "QUIT"): Entry(
        "closing connection",
        "The server acknowledges QUIT and closes the connection. The session is over.",
        "RFC 5321 §3.8, §4.1.1.10",
    ),
    (250, "EHLO"): Entry(
        "hello, here are my extensions",
        "The server accepts EHLO. The first line names the server and every further line is one extension "
        "keyword it offers; the client may use only what is listed.",
        "RFC 5321 §4.1.1.1",
    ),
    (250, "HELO"): Entry(
        "hello",
        "The server accepts HELO. HELO lists no extensions, so only plain SMTP commands are available.",
        "RFC 5321 §3.2, §4.1.1.1",
    ),
    (250, "MAIL"): Entry(
        "sender accepted",
        "The server accepts the sender and a new mail transaction has begun. "
        "Next come one or more RCPT TO.",
        "RFC 5321 §3.3, §4.1.1.2",
    ),
    (250, "RCPT"): Entry(
        "recipient accepted",
        "The server accepts this recipient and adds it to the envelope. Add more recipients, or send DATA.",
        "RFC 5321 §3.3, §4.1.1.3",
    ),
    (250, "MESSAGE"): Entry(
        "message accepted",
        "The message is accepted: the server is now responsible for it, to deliver it or to tell the sender "
        "it failed. The envelope is cleared and a new transaction may start.",
        "RFC 5321 §4.1.1.4, §4.2.5",
    ),
    (250, "BDAT"): Entry(
        "chunk received",
        "The server has read exactly the octets this BDAT announced; the message is not complete yet, so more "
        "chunks follow, the last one sent with BDAT ... LAST.",
        "RFC 3030 §2",
    ),
    (250, "RSET"): Entry(
        "transaction reset",
        "The server has dropped the sender, recipients and data of the current transaction. "
        "The session itself (EHLO, TLS, AUTH) stays as it was.",
        "RFC 5321 §4.1.1.5",
    ),
    (250, "NOOP"): Entry(
        "ok, nothing done",
        "NOOP does nothing but show that the connection is alive, and 250 is its only answer.",
        "RFC 5321 §4.1.1.9",
    ),
    (250, "VRFY"): Entry(
        "mailbox verified",
        "The server confirms that the mailbox exists: the reply gives its address, often with the user's full "
        "name.",
        "RFC 5321 §3.5.1, §3.5.2, §4.1.1.6",
    ),
    (354, "DATA"): Entry(
        "go ahead, send the message",
        "DATA is accepted. The client now sends the message, doubling any dot that starts a line, "
        "and ends it with a line holding only a dot (<CRLF>.<CRLF>).",
        "RFC 5321 §3.3, §4.1.1.4, §4.5.2",
    ),
    (421, "GREETING"): Entry(
        "service not available",
        "The server turns the connection away at once, busy or shutting down, and will close it. "
        "The client should try again later.",
        "RFC 5321 §3.8, §4.3.2",
    ),
    (450, "RCPT"): Entry(
        "recipient temporarily refused",
        "The mailbox cannot take mail now, or the server is greylisting: it turns away the first attempt "
        "from a client, sender and recipient it has not seen together and expects a retry later.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    (452, "RCPT"): Entry(
        "too many recipients, or no room now",
        "The server will not take this recipient in this transaction. "
        "Send the message to those accepted, then the rest in a new transaction.",
        "RFC 5321 §4.5.3.1.10; RFC 1870 §6.4",
    ),
    (454, "STARTTLS"): Entry(
        "TLS not available",
        "The server cannot start TLS right now, for a temporary reason, and the connection is still in clear "
        "text. A client that requires TLS stops here with QUIT rather than go on unencrypted.",
        "RFC 3207 §4, §6",
    ),
    (454, "AUTH"): Entry(
        "temporary authentication failure",
        "Authentication failed because of a problem on the server, not because of the password. "
        "The client should not ask for a new password; it tells the user and tries later.",
        "RFC 4954 §6",
    ),
    (500, "EHLO"): Entry(
        "EHLO not recognized: fall back to HELO",
        "This is probably an old server that knows only HELO. The client should fall back to HELO and go on "
        "without extensions.",
        "RFC 5321 §3.2, §4.1.4",
    ),
    (502, "EHLO"): Entry(
        "EHLO not implemented: fall back to HELO",
        "This is probably an old server that knows only HELO. The client should fall back to HELO and go on "
        "without extensions.",
        "RFC 5321 §3.2, §4.3.2",
    ),
    (500, "AUTH"): Entry(
        "AUTH not understood",
        "The server did not take the line: it knows no AUTH on this session, or a line of the exchange was "
        "longer than its buffer. The reply's text says which.",
        "RFC 4954 §4; RFC 5321 §4.2.3",
    ),
    (501, "STARTTLS"): Entry(
        "STARTTLS takes no parameters",
        "STARTTLS must be sent alone, with nothing after the word. Send exactly \"STARTTLS\".",
        "RFC 3207 §4",
    ),
    (501, "AUTH"): Entry(
        "AUTH exchange rejected",
        "The server could not decode the base64, or the client cancelled with '*', or it sent an initial "
        "response to a mechanism where the server speaks first. The session goes on unauthenticated.",
        "RFC 4954 §4",
    ),
    (503, "AUTH"): Entry(
        "AUTH not allowed now",
        "AUTH is refused at this point: the session is already authenticated, a mail transaction is open, or "
        "the server did not offer AUTH. The reply's text usually says which.",
        "RFC 4954 §3, §4",
    ),
    (503, "MAIL"): Entry(
        "MAIL not allowed now",
        "MAIL is refused here: a transaction is already open (RSET closes it), or the client has not "
        "introduced itself with EHLO or HELO.",
        "RFC 5321 §4.1.1.1, §4.1.4",
    ),
    (503, "RCPT"): Entry(
        "need MAIL first",
        "RCPT came before any accepted MAIL FROM, and the server must refuse it with 503. Start the transaction "
        "with MAIL FROM.",
        "RFC 5321 §3.3, §4.1.4",
    ),
    (503, "DATA"): Entry(
        "need RCPT first",
        "DATA came before any recipient was accepted, so there is nobody to send the message to; a server may "
        "answer 503 or 554 here. Give at least one RCPT TO that the server accepts.",
        "RFC 5321 §3.3, §4.1.4",
    ),
    (504, "AUTH"): Entry(
        "mechanism not supported",
        "The server does not support this SASL mechanism, at least not on this connection. "
        "Pick one that the EHLO reply lists after AUTH.",
        "RFC 4954 §4",
    ),
    (530, "AUTH"): Entry(
        "AUTH refused until a condition is met",
        "RFC 4954 keeps its \"530 Authentication required\" for commands other than AUTH, so a 530 to AUTH "
        "most likely means TLS is required first. Send STARTTLS and EHLO again, then AUTH.",
        "RFC 3207 §4; RFC 4954 §6",
    ),
    (550, "MAIL"): Entry(
        "sender refused",
        "The server refuses this sender for good, typically by policy, for example a failed SPF check "
        "or a blocked address.",
        "RFC 5321 §3.3, §7.9; RFC 7208 §8.4",
    ),
    (550, "RCPT"): Entry(
        "recipient refused",
        "There is no such mailbox here, or the server will not relay to that domain. "
        "Fix or drop this recipient; the others already accepted stay valid.",
        "RFC 5321 §3.3, §4.1.1.3",
    ),
    (552, "RCPT"): Entry(
        "message too big for this recipient",
        "The server will not take a message of the declared size for this recipient, and the client may not "
        "queue it again for the same recipient.",
        "RFC 1870 §6.4",
    ),
    (552, "MAIL"): Entry(
        "message size over the limit",
        "The size declared with SIZE= is more than the server will ever accept. "
        "The client sends RSET or QUIT and does not send this message here.",
        "RFC 1870 §6.1, §6.2",
    ),
    (552, "MESSAGE"): Entry(
        "message too big, or mailbox full",
        "After reading the message the server refuses it as too large, or a mailbox has no room for it.",
        "RFC 5321 §4.2.3; RFC 1870 §6.3",
    ),
    (554, "GREETING"): Entry(
        "no SMTP service here",
        "Instead of 220 the server refuses the whole session. It must still wait for QUIT and should answer "
        "anything else with 503, so the client sends QUIT.",
        "RFC 5321 §3.1, §4.3.2",
    ),
    (554, "DATA"): Entry(
        "no valid recipients",
        "DATA is refused, usually because no recipient was accepted (a server may answer 503 or 554 then). "
        "The client must not send the message.",
        "RFC 5321 §3.3",
    ),
    (554, "MESSAGE"): Entry(
        "message refused",
        "The server read the message and refuses it for good, often for its content or by policy. "
        "The client keeps responsibility for it and should not resend it unchanged.",
        "RFC 5321 §4.2.5",
    ),
}


def _digits(code: int) -> tuple[int | None, int | None]:
    """The first and second digit of a three-digit code; (None, None) for anything else."""
    if not isinstance(code, int) or not 100 <= code <= 999:
        return None, None
    return code // 100, code // 10 % 10


def _verb_key(verb: object) -> str | None:
    """An upper-case key for the command a reply answers; accepts "mail from", "TLS handshake" or a Verb."""
    if verb is None:
        return None
    name = getattr(verb, "name", verb)
    key = re.sub(r"[\s\-]+", "_", str(name).strip().upper())
    return _VERB_ALIASES.get(key, key)


def _generic_meaning(code: int, verb: str | None) -> Explanation:
    """What can honestly be said of a reply the catalog does not know: its digits, and no more."""
    first, second = _digits(code)
    kind, kind_text = _KINDS.get(first, _OUT_OF_RANGE) if first is not None else _OUT_OF_RANGE
    category = _CATEGORIES.get(second, "unknown") if second is not None else "unknown"
    about = _CATEGORY_TEXT.get(category, "")
    after = f" in answer to {verb}" if verb and verb not in ("RAW", "GREETING") else ""
    second_says = f" The second digit says it is {about}." if about and category != "unspecified" else ""
    return Explanation(
        f"{code}: unlisted code ({kind})",
        f"smtpstep has no entry for {code}{after}, so only its digits speak: {kind_text}{second_says}",
        "RFC 5321 §4.2, §4.2.1",
    )


def _reply_meaning(code: int, verb: str | None, enhanced: str | None = None,
                   text: str = "") -> tuple[str, Explanation]:
    """The catalog entry for this reply and its key, most specific first (see the module docstring)."""
    found = situation(code, verb, enhanced, text)
    if found is not None:
        entry = SITUATIONS[found]
        return found, Explanation(f"{code}: {entry.title}", entry.text, entry.rfc)
    by_verb = _REPLIES_BY_VERB.get((code, verb)) if verb else None
    if by_verb is not None:
        return f"{code} {verb}", Explanation(f"{code}: {by_verb.title}", by_verb.text, by_verb.rfc)
    by_code = _REPLIES.get(code)
    if by_code is not None:
        return f"{code}", Explanation(f"{code}: {by_code.title}", by_code.text, by_code.rfc)
    return "unlisted", _generic_meaning(code, verb)


def _reply_text(text: object) -> str:
    """The reply's text as one string, bounded: its lines joined by newlines (a reply may be huge)."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text[:TEXT_LIMIT]
    parts: list[str] = []
    size = 0
    try:
        for line in text:  # type: ignore[attr-defined]
            parts.append(str(line)[:TEXT_LIMIT])
            size += len(parts[-1]) + 1
            if size >= TEXT_LIMIT:
                break
    except TypeError:
        return str(text)[:TEXT_LIMIT]
    return "\n".join(parts)[:TEXT_LIMIT]


def _sent_enhanced(enhanced: object, text: str) -> str | None:
    """The enhanced code the server sent: the one given if it is one, else the one its text starts with."""
    if isinstance(enhanced, str) and explain_enhanced(enhanced) is not None:
        return enhanced.strip()
    found = _SENT_ENHANCED.match(text)
    return found.group(0).strip() if found else None


def explain_code(code: int) -> Explanation:
    """What a reply code means on its own, whatever command it answers."""
    return _reply_meaning(code, None)[1]


def explain_reply(code: int, enhanced: str | None = None, *, verb: object = None,
                  text: object = None) -> ReplyExplanation:
    """Explain a reply from what the server said: its code, the enhanced code it sent, the command it
    answers (``verb``: "MAIL", "mail from", a ``Verb``...) and its text (a string or its lines).

    ``enhanced`` may be given as the parser read it; with ``text`` the code is also read off the text
    itself, so that one whose class disagrees with the reply code is shown and named, not dropped.
    """
    first, second = _digits(code)
    kind, kind_text = _KINDS.get(first, _OUT_OF_RANGE) if first is not None else _OUT_OF_RANGE
    category = _CATEGORIES.get(second, "unknown") if second is not None else "unknown"
    said = _reply_text(text)
    sent = _sent_enhanced(enhanced, said)
    extra = explain_enhanced(sent, code=code) if sent is not None else None
    key, meaning = _reply_meaning(code, _verb_key(verb), sent, said)
    return ReplyExplanation(code, kind, kind_text[:1].upper() + kind_text[1:], category, meaning, extra, key, sent)
