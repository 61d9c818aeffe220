"""The explanation catalog: what a reply code, an enhanced status code, an EHLO keyword or a step means.

Holds the plain-words texts the explanation pane shows, each with the RFC section it comes from, as
data: dicts keyed by code, (code, verb), enhanced subject and detail, keyword and step. The functions
only look things up and fill in parameters (a SIZE limit, the AUTH mechanisms).

Rules for this module:
- pure: no I/O, no clock, no asyncio, ssl, socket or Textual imports;
- it never raises for odd input: an unknown code, keyword or step gets a generic explanation built from
  what can be read off it (the first digit of a reply, RFC 5321 §4.2; the class and subject of an
  enhanced code, RFC 3463 §2), because a server may send anything and no traceback reaches the user;
- every explanation cites its RFC section, so the pane can show where a rule comes from;
- texts are the app's own words, one to three short sentences, written for students.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple


@dataclass(frozen=True)
class Explanation:
    """One entry of the catalog, ready to show."""

    title: str
    """Short heading, such as "250: requested action completed"."""
    text: str
    """Plain words, one to three sentences."""
    rfc: str
    """Where it comes from, such as "RFC 5321 §4.2.3"; several are joined with "; "."""


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

    def lines(self) -> list[str]:
        """A few ready-to-print lines summarising the reply, each with its citation."""
        first, second = _digits(self.code)
        out = [f"{self.meaning.title}  ({self.meaning.rfc})", self.meaning.text]
        if first is None:
            out.append(f"{self.kind}: {self.kind_text}  (RFC 5321 §4.2.1)")
        else:
            out.append(f"First digit {first}, {self.kind}: {self.kind_text}  (RFC 5321 §4.2.1)")
            blurb = _CATEGORY_TEXT.get(self.category, "")
            out.append(f"Second digit {second}, {self.category}{': ' + blurb if blurb else ''}  (RFC 5321 §4.2.1)")
        if self.enhanced is not None:
            out += [f"{self.enhanced.title}  ({self.enhanced.rfc})", self.enhanced.text]
        return out


class _Entry(NamedTuple):
    title: str
    text: str
    rfc: str


# ---------------------------------------------------------------------------------------------------
# Reply codes (RFC 5321 §4.2)
# ---------------------------------------------------------------------------------------------------

_KINDS: dict[int, tuple[str, str]] = {
    2: ("positive completion", "done; the server did what was asked and the client may go on."),
    3: ("positive intermediate", "go on; the server accepted the command and waits for the client to send more."),
    4: ("transient negative", "not now; the same command may work if the client tries again later."),
    5: ("permanent negative", "failed for good; the client must not repeat the same request unchanged."),
}
_OUT_OF_RANGE = (
    "out of range",
    "SMTP replies start with 2, 3, 4 or 5, so a client treats anything else as a fatal error.",
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

_REPLIES: dict[int, _Entry] = {
    211: _Entry(
        "system status",
        "The server answers a request for status or help with information about itself. "
        "It is meant for people to read and changes nothing in the session.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    214: _Entry(
        "help message",
        "Help text for a human, usually the answer to HELP. The client ignores its content and carries on.",
        "RFC 5321 §4.1.1.8, §4.2.3",
    ),
    220: _Entry(
        "service ready",
        "The server is ready. As the first reply on a connection it is the greeting, naming the server; "
        "in answer to STARTTLS it means the TLS handshake may start.",
        "RFC 5321 §3.1, §4.2.3; RFC 3207 §4",
    ),
    221: _Entry(
        "closing connection",
        "The server says goodbye and closes the connection, normally in answer to QUIT.",
        "RFC 5321 §3.8, §4.1.1.10",
    ),
    235: _Entry(
        "authentication succeeded",
        "The AUTH exchange worked: the server knows who the client is for the rest of this session. "
        "No second AUTH is allowed in the same session.",
        "RFC 4954 §4, §6",
    ),
    250: _Entry(
        "requested action completed",
        "The command worked. What that means depends on the command: the extension list after EHLO, "
        "sender or recipient accepted after MAIL or RCPT, message accepted after the final dot.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    251: _Entry(
        "user not local, will forward",
        "The mailbox is not on this server, but the server accepts the recipient anyway and will forward "
        "the message to the address it names.",
        "RFC 5321 §3.4, §4.2.3",
    ),
    252: _Entry(
        "cannot verify, will try",
        "The server will not say whether the mailbox exists, often to protect privacy, but it will accept "
        "mail for it and try to deliver.",
        "RFC 5321 §3.5.3, §4.2.3",
    ),
    334: _Entry(
        "authentication challenge",
        "The server waits for the next step of the AUTH exchange; the text after 334 is a base64 challenge, "
        "possibly empty. The client answers with one base64 line, or a single '*' to cancel.",
        "RFC 4954 §4",
    ),
    354: _Entry(
        "start mail input",
        "The server is ready for the message itself. The client sends the header and body, doubles any dot "
        "that starts a line, and ends with a line holding only a dot (<CRLF>.<CRLF>).",
        "RFC 5321 §3.3, §4.1.1.4, §4.5.2",
    ),
    421: _Entry(
        "service not available, closing",
        "The server is closing this connection, for example because it is overloaded or shutting down. "
        "It may say this in answer to any command; the client tries again later.",
        "RFC 5321 §3.8, §4.2.3, §4.3.2",
    ),
    432: _Entry(
        "password transition needed",
        "The user has to move to the chosen mechanism, typically by authenticating once with PLAIN over TLS. "
        "After that the chosen mechanism should work in later sessions.",
        "RFC 4954 §6",
    ),
    450: _Entry(
        "mailbox temporarily unavailable",
        "The mailbox cannot take mail just now: it is busy, or the server holds back for a while on purpose "
        "(greylisting works this way). The client tries again later.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    451: _Entry(
        "local error in processing",
        "Something went wrong on the server's side and it aborted the action. It is temporary: try again later.",
        "RFC 5321 §4.2.3",
    ),
    452: _Entry(
        "insufficient system storage",
        "The server has no room just now, or the transaction already has as many recipients as it takes. "
        "Try again later, or send the remaining recipients in another transaction.",
        "RFC 5321 §4.2.3, §4.5.3.1.10",
    ),
    454: _Entry(
        "temporary failure of TLS or authentication",
        "In answer to STARTTLS it means TLS is not available right now; in answer to AUTH, a temporary "
        "authentication failure on the server's side. Either way the client may try again later.",
        "RFC 3207 §4; RFC 4954 §6",
    ),
    455: _Entry(
        "cannot accommodate parameters",
        "The server understands the parameters given with MAIL FROM or RCPT TO but cannot meet them right now. "
        "Try again later.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    500: _Entry(
        "command unrecognized",
        "The server did not recognize the command, or the line was too long. "
        "Check the spelling, and keep a command line within 512 octets.",
        "RFC 5321 §4.2.3, §4.3.2, §4.5.3.1.4",
    ),
    501: _Entry(
        "syntax error in parameters",
        "The command is known but its arguments are wrong: a malformed address, or an argument where none "
        "is allowed (DATA, RSET, QUIT). Fix the arguments and send the command again.",
        "RFC 5321 §4.2.3, §4.3.2",
    ),
    502: _Entry(
        "command not implemented",
        "The server knows this command but does not offer it. "
        "A server must not list in its EHLO reply an extension it would answer with 502.",
        "RFC 5321 §4.2.3, §4.2.4",
    ),
    503: _Entry(
        "bad sequence of commands",
        "The command came at the wrong moment, such as RCPT before MAIL or DATA before any accepted recipient. "
        "The server's state is unchanged: send the missing step first.",
        "RFC 5321 §3.3, §4.1.4, §4.2.3",
    ),
    504: _Entry(
        "command parameter not implemented",
        "The command is implemented, but not with this parameter, for example AUTH with a mechanism the "
        "server does not support.",
        "RFC 5321 §4.2.3; RFC 4954 §4",
    ),
    521: _Entry(
        "host does not accept mail",
        "This host never accepts mail, and says so instead of the 220 greeting. "
        "The client should not try this host again.",
        "RFC 7504",
    ),
    530: _Entry(
        "access denied until a condition is met",
        "The server refuses this command until something is done first: STARTTLS "
        "(\"Must issue a STARTTLS command first\") or AUTH (\"Authentication required\"). "
        "The text and the enhanced code 5.7.0 tell which.",
        "RFC 3207 §4; RFC 4954 §6",
    ),
    534: _Entry(
        "authentication mechanism too weak",
        "The server's policy does not allow this mechanism for this user. "
        "The client retries AUTH with a stronger mechanism.",
        "RFC 4954 §6",
    ),
    535: _Entry(
        "authentication credentials invalid",
        "The user name or password (or other credentials) was wrong. "
        "The client should ask the user for new credentials rather than repeat the same ones.",
        "RFC 4954 §6",
    ),
    538: _Entry(
        "encryption required for this mechanism",
        "This mechanism may only be used on an encrypted connection, so STARTTLS must come first. "
        "The code survives for history: modern servers simply do not offer such mechanisms before TLS.",
        "RFC 4954 §6",
    ),
    550: _Entry(
        "mailbox unavailable",
        "The action was refused for good: the mailbox does not exist, access is denied, or policy forbids it "
        "(relaying denied, suspected spam). Do not retry it unchanged.",
        "RFC 5321 §3.3, §4.2.3",
    ),
    551: _Entry(
        "user not local",
        "The mailbox is not on this server; the text may say where it is. "
        "The client should send it there instead.",
        "RFC 5321 §3.4, §4.2.3",
    ),
    552: _Entry(
        "exceeded storage allocation",
        "The message is too big, or the mailbox has no room for it. "
        "A size declared with SIZE= in MAIL FROM that is over the server's limit also gets 552.",
        "RFC 5321 §4.2.3; RFC 1870 §6.1",
    ),
    553: _Entry(
        "mailbox name not allowed",
        "The address is refused, typically because its syntax is wrong or the server does not accept "
        "that sender address.",
        "RFC 5321 §3.3, §4.2.3",
    ),
    554: _Entry(
        "transaction failed",
        "The transaction failed for good, often a policy refusal. "
        "As the first reply on a connection, instead of 220, it means \"no SMTP service here\".",
        "RFC 5321 §3.1, §4.2.3",
    ),
    555: _Entry(
        "MAIL FROM/RCPT TO parameters not recognized",
        "The server does not know or implement a parameter given with MAIL FROM or RCPT TO, "
        "such as SIZE= or BODY= sent when the extension was not offered.",
        "RFC 5321 §4.2.3",
    ),
    556: _Entry(
        "domain does not accept mail",
        "The recipient's domain accepts no mail at all, for example because it publishes a null MX. "
        "The client gives up on this address.",
        "RFC 7504; RFC 7505",
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
}

_REPLIES_BY_VERB: dict[tuple[int, str], _Entry] = {
    (220, "GREETING"): _Entry(
        "service ready (greeting)",
        "The server greets the new connection and gives its name as the first word. "
        "The client may now introduce itself with EHLO.",
        "RFC 5321 §3.1, §4.2, §4.3.1",
    ),
    (220, "STARTTLS"): _Entry(
        "ready to start TLS",
        "The server agrees to STARTTLS. The client must start the TLS handshake at once, "
        "before sending anything else.",
        "RFC 3207 §4",
    ),
    (221, "QUIT"): _Entry(
        "closing connection",
        "The server acknowledges QUIT and closes the connection. The session is over.",
        "RFC 5321 §3.8, §4.1.1.10",
    ),
    (250, "EHLO"): _Entry(
        "hello, here are my extensions",
        "The server accepts EHLO. The first line names the server and every further line is one extension "
        "keyword it offers; the client may use only what is listed.",
        "RFC 5321 §4.1.1.1",
    ),
    (250, "HELO"): _Entry(
        "hello",
        "The server accepts HELO. HELO lists no extensions, so only plain SMTP commands are available.",
        "RFC 5321 §4.1.1.1",
    ),
    (250, "MAIL"): _Entry(
        "sender accepted",
        "The server accepts the sender and a new mail transaction has begun. "
        "Next come one or more RCPT TO.",
        "RFC 5321 §3.3, §4.1.1.2",
    ),
    (250, "RCPT"): _Entry(
        "recipient accepted",
        "The server accepts this recipient and adds it to the envelope. Add more recipients, or send DATA.",
        "RFC 5321 §3.3, §4.1.1.3",
    ),
    (250, "MESSAGE"): _Entry(
        "message accepted",
        "The message is accepted: the server is now responsible for it, to deliver it or to tell the sender "
        "it failed. The envelope is cleared and a new transaction may start.",
        "RFC 5321 §4.1.1.4, §4.2.5",
    ),
    (250, "RSET"): _Entry(
        "transaction reset",
        "The server has dropped the sender, recipients and data of the current transaction. "
        "The session itself (EHLO, TLS, AUTH) stays as it was.",
        "RFC 5321 §4.1.1.5",
    ),
    (250, "NOOP"): _Entry(
        "ok, nothing done",
        "NOOP does nothing but show that the connection is alive, and 250 is its only answer.",
        "RFC 5321 §4.1.1.9",
    ),
    (250, "VRFY"): _Entry(
        "mailbox verified",
        "The server confirms that the mailbox exists, and usually gives its full name and address.",
        "RFC 5321 §3.5.2, §4.1.1.6",
    ),
    (354, "DATA"): _Entry(
        "go ahead, send the message",
        "DATA is accepted. The client now sends the message, doubling any dot that starts a line, "
        "and ends it with a line holding only a dot (<CRLF>.<CRLF>).",
        "RFC 5321 §3.3, §4.1.1.4, §4.5.2",
    ),
    (421, "GREETING"): _Entry(
        "service not available",
        "The server turns the connection away at once, busy or shutting down, and will close it. "
        "The client tries again later.",
        "RFC 5321 §3.8, §4.3.2",
    ),
    (450, "RCPT"): _Entry(
        "recipient temporarily refused",
        "The mailbox cannot take mail now, or the server is greylisting: it turns away the first attempt "
        "from an unknown sender and expects a retry some minutes later.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    (452, "RCPT"): _Entry(
        "too many recipients, or no room now",
        "The server will not take this recipient in this transaction. "
        "Send the message to those accepted, then the rest in a new transaction.",
        "RFC 5321 §4.5.3.1.10; RFC 1870 §6.4",
    ),
    (454, "STARTTLS"): _Entry(
        "TLS not available",
        "The server cannot start TLS right now, for a temporary reason, and the connection is still in clear "
        "text. A client that requires TLS stops here with QUIT rather than go on unencrypted.",
        "RFC 3207 §4, §4.1",
    ),
    (454, "AUTH"): _Entry(
        "temporary authentication failure",
        "Authentication failed because of a problem on the server, not because of the password. "
        "The client should not ask for a new password; it tells the user and tries later.",
        "RFC 4954 §6",
    ),
    (500, "EHLO"): _Entry(
        "EHLO not recognized: fall back to HELO",
        "This is an old server that knows only HELO. The client sends HELO instead and goes on without "
        "extensions.",
        "RFC 5321 §3.2, §4.1.4",
    ),
    (502, "EHLO"): _Entry(
        "EHLO not implemented: fall back to HELO",
        "This is an old server that knows only HELO. The client sends HELO instead and goes on without "
        "extensions.",
        "RFC 5321 §3.2, §4.3.2",
    ),
    (500, "AUTH"): _Entry(
        "AUTH line too long",
        "A line of the AUTH exchange was longer than the server's buffer, so the authentication failed. "
        "The usual enhanced code is 5.5.6.",
        "RFC 4954 §4, §6",
    ),
    (501, "STARTTLS"): _Entry(
        "STARTTLS takes no parameters",
        "STARTTLS must be sent alone, with nothing after the word. Send exactly \"STARTTLS\".",
        "RFC 3207 §4",
    ),
    (501, "AUTH"): _Entry(
        "AUTH exchange rejected",
        "The server could not decode the base64, or the client cancelled with '*', or it sent an initial "
        "response to a mechanism where the server speaks first. The session goes on unauthenticated.",
        "RFC 4954 §4",
    ),
    (503, "AUTH"): _Entry(
        "AUTH not allowed now",
        "AUTH is refused here because the session is already authenticated or a mail transaction is open.",
        "RFC 4954 §4",
    ),
    (503, "MAIL"): _Entry(
        "MAIL not allowed now",
        "MAIL is refused here: a transaction is already open (RSET closes it), or the client has not "
        "introduced itself with EHLO or HELO.",
        "RFC 5321 §4.1.1.1, §4.1.4",
    ),
    (503, "RCPT"): _Entry(
        "need MAIL first",
        "RCPT came before any accepted MAIL FROM. Start the transaction with MAIL FROM.",
        "RFC 5321 §3.3, §4.1.4",
    ),
    (503, "DATA"): _Entry(
        "need RCPT first",
        "DATA came before any recipient was accepted. Give at least one RCPT TO that the server accepts.",
        "RFC 5321 §3.3, §4.1.4",
    ),
    (504, "AUTH"): _Entry(
        "mechanism not supported",
        "The server does not support this SASL mechanism, at least not on this connection. "
        "Pick one that the EHLO reply lists after AUTH.",
        "RFC 4954 §4",
    ),
    (530, "STARTTLS"): _Entry(
        "must issue STARTTLS first",
        "This server requires TLS. Until STARTTLS has succeeded it refuses every command except NOOP, EHLO, "
        "STARTTLS and QUIT.",
        "RFC 3207 §4",
    ),
    (530, "AUTH"): _Entry(
        "authentication required",
        "The server's policy requires AUTH before this command, as is usual for MAIL on a submission port. "
        "Authenticate, then try again.",
        "RFC 4954 §6",
    ),
    (550, "MAIL"): _Entry(
        "sender refused",
        "The server refuses this sender for good, typically by policy, for example a failed SPF check "
        "or a blocked address.",
        "RFC 5321 §3.3",
    ),
    (550, "RCPT"): _Entry(
        "recipient refused",
        "There is no such mailbox here, or the server will not relay to that domain. "
        "Fix or drop this recipient; the others already accepted stay valid.",
        "RFC 5321 §3.3, §4.1.1.3",
    ),
    (552, "MAIL"): _Entry(
        "message size over the limit",
        "The size declared with SIZE= is more than the server will ever accept. "
        "The client sends RSET or QUIT and does not send this message here.",
        "RFC 1870 §6.1, §6.2",
    ),
    (552, "MESSAGE"): _Entry(
        "message too big, or mailbox full",
        "After reading the message the server refuses it as too large, or a mailbox has no room for it.",
        "RFC 5321 §4.2.3; RFC 1870 §6.3",
    ),
    (554, "GREETING"): _Entry(
        "no SMTP service here",
        "Instead of 220 the server refuses the whole session. It waits for QUIT and answers anything else "
        "with 503, so the client sends QUIT.",
        "RFC 5321 §3.1, §4.3.2",
    ),
    (554, "DATA"): _Entry(
        "no valid recipients",
        "DATA is refused, usually because no recipient was accepted. The client must not send the message.",
        "RFC 5321 §3.3",
    ),
    (554, "MESSAGE"): _Entry(
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


def _generic_meaning(code: int) -> Explanation:
    first, _ = _digits(code)
    kind, kind_text = _KINDS.get(first, _OUT_OF_RANGE) if first is not None else _OUT_OF_RANGE
    return Explanation(
        f"{code}: unlisted code ({kind})",
        f"smtpstep has no entry for {code}. A client acts on the first digit of a code it does not know: "
        f"{kind_text}",
        "RFC 5321 §4.2, §4.3.2",
    )


def _reply_meaning(code: int, verb: object) -> Explanation:
    key = _verb_key(verb)
    entry = _REPLIES_BY_VERB.get((code, key)) if key else None
    entry = entry or _REPLIES.get(code)
    if entry is None:
        return _generic_meaning(code)
    return Explanation(f"{code}: {entry.title}", entry.text, entry.rfc)


def explain_code(code: int) -> Explanation:
    """What a reply code means on its own, whatever command it answers."""
    return _reply_meaning(code, None)


def explain_reply(code: int, enhanced: str | None = None, *, verb: str | None = None) -> ReplyExplanation:
    """Explain a reply: its digits, its meaning after ``verb`` if given, and its enhanced status code."""
    first, second = _digits(code)
    kind, kind_text = _KINDS.get(first, _OUT_OF_RANGE) if first is not None else _OUT_OF_RANGE
    category = _CATEGORIES.get(second, "unknown") if second is not None else "unknown"
    extra = explain_enhanced(enhanced) if isinstance(enhanced, str) else None
    if extra is not None and first is not None and enhanced.strip()[0] != str(first):
        extra = replace(
            extra,
            text=f"{extra.text} Its class should match the reply's first digit ({first}) but does not, "
            "so trust the three-digit code.",
            rfc=f"{extra.rfc}; RFC 2034",
        )
    meaning = _reply_meaning(code, verb)
    return ReplyExplanation(code, kind, kind_text[:1].upper() + kind_text[1:], category, meaning, extra)


# ---------------------------------------------------------------------------------------------------
# Enhanced status codes (RFC 3463; IANA registry, RFC 5248)
# ---------------------------------------------------------------------------------------------------

_ENHANCED_FORM = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
"""class.subject.detail: class 2, 4 or 5; subject and detail one to three digits (RFC 3463 §2)."""

_CLASSES: dict[int, tuple[str, str]] = {
    2: ("success", "Class 2: success."),
    4: ("persistent transient failure", "Class 4: a temporary failure, so sending again later may work."),
    5: ("permanent failure", "Class 5: a permanent failure, so resending it unchanged will not work."),
}

_SUBJECTS: dict[int, _Entry] = {
    0: _Entry("other or undefined status", "No detail is given beyond the class.", "RFC 3463 §3.1"),
    1: _Entry(
        "addressing status",
        "Something about an address, the sender's or a recipient's: its syntax or whether it exists. "
        "The sender can usually correct it.",
        "RFC 3463 §3.2",
    ),
    2: _Entry(
        "mailbox status",
        "Something about the recipient's mailbox, such as full or disabled, which is in the recipient's hands.",
        "RFC 3463 §3.3",
    ),
    3: _Entry(
        "mail system status",
        "Something about the receiving mail system, such as out of storage, not accepting mail, "
        "or unable to handle a message this big.",
        "RFC 3463 §3.4",
    ),
    4: _Entry(
        "network and routing status",
        "Something on the way between the systems: no answer, a broken connection, DNS or routing trouble.",
        "RFC 3463 §3.5",
    ),
    5: _Entry(
        "mail delivery protocol status",
        "Something about the SMTP conversation itself: an invalid command, bad syntax, bad arguments.",
        "RFC 3463 §3.6",
    ),
    6: _Entry(
        "message content or media status",
        "Something about the message's content or its encoding, such as a conversion that was needed.",
        "RFC 3463 §3.7",
    ),
    7: _Entry(
        "security or policy status",
        "Security or policy: authentication, encryption, or a refusal by the receiver's rules "
        "(anti-spam checks such as SPF, DKIM and DMARC).",
        "RFC 3463 §3.8",
    ),
}

_DETAILS: dict[tuple[int, int], _Entry] = {
    (0, 0): _Entry("other undefined status", "Only the class of the status is known.", "RFC 3463 §3.1"),
    (1, 0): _Entry("other address status", "Something about an address caused this status.", "RFC 3463 §3.2"),
    (1, 1): _Entry(
        "bad destination mailbox address",
        "The mailbox, the part left of the @, does not exist at the destination.",
        "RFC 3463 §3.2",
    ),
    (1, 2): _Entry(
        "bad destination system address",
        "The domain, the part right of the @, does not exist or cannot accept mail.",
        "RFC 3463 §3.2",
    ),
    (1, 3): _Entry(
        "bad destination mailbox address syntax",
        "The recipient address is not written correctly.",
        "RFC 3463 §3.2",
    ),
    (1, 4): _Entry(
        "destination mailbox address ambiguous",
        "The address matches more than one mailbox at the destination.",
        "RFC 3463 §3.2",
    ),
    (1, 5): _Entry("destination address valid", "The recipient address is valid.", "RFC 3463 §3.2"),
    (1, 6): _Entry(
        "destination mailbox has moved",
        "The address used to be valid but takes no mail any more, and there is no forwarding address.",
        "RFC 3463 §3.2",
    ),
    (1, 7): _Entry(
        "bad sender's mailbox address syntax",
        "The sender address is not written correctly.",
        "RFC 3463 §3.2",
    ),
    (1, 8): _Entry(
        "bad sender's system address",
        "The sender's domain does not exist or cannot accept mail, so a bounce could never reach it.",
        "RFC 3463 §3.2",
    ),
    (1, 10): _Entry(
        "recipient address has null MX",
        "The recipient's domain publishes a null MX: it declares that it accepts no mail.",
        "RFC 7505; RFC 5248",
    ),
    (2, 0): _Entry(
        "other or undefined mailbox status",
        "The mailbox exists, but something about it caused this status.",
        "RFC 3463 §3.3",
    ),
    (2, 1): _Entry(
        "mailbox disabled",
        "The mailbox exists but is not accepting messages, for a while or for good.",
        "RFC 3463 §3.3",
    ),
    (2, 2): _Entry(
        "mailbox full",
        "The recipient's mailbox is over its quota; space frees up when the recipient deletes mail.",
        "RFC 3463 §3.3",
    ),
    (2, 3): _Entry(
        "message length exceeds administrative limit",
        "The message is bigger than this mailbox's own size limit.",
        "RFC 3463 §3.3",
    ),
    (2, 4): _Entry(
        "mailing list expansion problem",
        "The address is a mailing list that could not be expanded into its members.",
        "RFC 3463 §3.3",
    ),
    (3, 0): _Entry(
        "other or undefined mail system status",
        "The destination system normally accepts mail, but something about it caused this status.",
        "RFC 3463 §3.4",
    ),
    (3, 1): _Entry("mail system full", "The receiving system has run out of storage.", "RFC 3463 §3.4"),
    (3, 2): _Entry(
        "system not accepting network messages",
        "The receiving host is not taking messages, for example during maintenance or a shutdown.",
        "RFC 3463 §3.4; RFC 7504",
    ),
    (3, 3): _Entry(
        "system not capable of selected features",
        "The receiving system does not support a feature the message asked for.",
        "RFC 3463 §3.4",
    ),
    (3, 4): _Entry(
        "message too big for system",
        "The message is larger than the receiving system accepts for any message.",
        "RFC 3463 §3.4",
    ),
    (3, 5): _Entry(
        "system incorrectly configured",
        "The receiving system is not set up in a way that lets it accept this message.",
        "RFC 3463 §3.4",
    ),
    (4, 0): _Entry(
        "other or undefined network or routing status",
        "Something went wrong in the network, and it is not clear what.",
        "RFC 3463 §3.5",
    ),
    (4, 1): _Entry(
        "no answer from host",
        "The next host did not answer the connection attempt.",
        "RFC 3463 §3.5",
    ),
    (4, 2): _Entry(
        "bad connection",
        "A connection was made but broke, or timed out, before the transaction was complete.",
        "RFC 3463 §3.5",
    ),
    (4, 3): _Entry(
        "directory server failure",
        "A directory server the mail system needs, typically DNS, was not available.",
        "RFC 3463 §3.5",
    ),
    (4, 4): _Entry(
        "unable to route",
        "The mail system could not work out where to send the message next.",
        "RFC 3463 §3.5",
    ),
    (4, 5): _Entry(
        "mail system congestion",
        "The mail system is congested and could not take the message now.",
        "RFC 3463 §3.5",
    ),
    (4, 6): _Entry(
        "routing loop detected",
        "The message went round in a loop and was forwarded too many times.",
        "RFC 3463 §3.5",
    ),
    (4, 7): _Entry(
        "delivery time expired",
        "The message waited too long on the way and was given up.",
        "RFC 3463 §3.5",
    ),
    (5, 0): _Entry(
        "other or undefined protocol status",
        "Something was wrong with the SMTP conversation, and no better detail fits.",
        "RFC 3463 §3.6",
    ),
    (5, 1): _Entry(
        "invalid command",
        "The command was out of sequence or is not supported.",
        "RFC 3463 §3.6",
    ),
    (5, 2): _Entry(
        "syntax error",
        "The command could not be understood: wrong syntax, or an unrecognized command.",
        "RFC 3463 §3.6",
    ),
    (5, 3): _Entry(
        "too many recipients",
        "The transaction has more recipients than the server takes at once; "
        "send the rest in another transaction.",
        "RFC 3463 §3.6",
    ),
    (5, 4): _Entry(
        "invalid command arguments",
        "A valid command was given arguments that are out of range or unknown.",
        "RFC 3463 §3.6",
    ),
    (5, 5): _Entry(
        "wrong protocol version",
        "The two sides disagree on the protocol version and could not sort it out.",
        "RFC 3463 §3.6",
    ),
    (5, 6): _Entry(
        "authentication exchange line too long",
        "A base64 line sent during AUTH was longer than the server's buffer for this mechanism.",
        "RFC 4954 §6",
    ),
    (6, 0): _Entry(
        "other or undefined media error",
        "Something about the content of the message made it undeliverable.",
        "RFC 3463 §3.7",
    ),
    (6, 1): _Entry(
        "media not supported",
        "The kind of content in the message is not supported on the way to the recipient.",
        "RFC 3463 §3.7",
    ),
    (6, 2): _Entry(
        "conversion required and prohibited",
        "The content would have to be converted to be delivered, but conversion is not allowed.",
        "RFC 3463 §3.7",
    ),
    (6, 3): _Entry(
        "conversion required but not supported",
        "The content would have to be converted, for example from 8-bit to 7-bit, and no host can do it.",
        "RFC 3463 §3.7",
    ),
    (6, 4): _Entry(
        "conversion with loss performed",
        "The message was delivered, but a conversion on the way lost some of its content.",
        "RFC 3463 §3.7",
    ),
    (6, 5): _Entry("conversion failed", "A needed conversion of the content did not work.", "RFC 3463 §3.7"),
    (6, 7): _Entry(
        "non-ASCII addresses not permitted",
        "An address contains non-ASCII characters, which this sender or recipient may not use.",
        "RFC 6531; RFC 5248",
    ),
    (7, 0): _Entry(
        "other or undefined security status",
        "A security reason caused this status, and no more is said, possibly on purpose.",
        "RFC 3463 §3.8",
    ),
    (7, 1): _Entry(
        "delivery not authorized, message refused",
        "The receiver's policy does not allow this sender to send to this recipient, "
        "for example relaying denied or a blocked sender.",
        "RFC 3463 §3.8",
    ),
    (7, 2): _Entry(
        "mailing list expansion prohibited",
        "The sender may not send to this mailing list.",
        "RFC 3463 §3.8",
    ),
    (7, 3): _Entry(
        "security conversion required but not possible",
        "The message would have to be converted to another secure messaging format, which is not possible.",
        "RFC 3463 §3.8",
    ),
    (7, 4): _Entry(
        "security features not supported",
        "The message uses security features that cannot be supported on the way.",
        "RFC 3463 §3.8",
    ),
    (7, 5): _Entry(
        "cryptographic failure",
        "A system that should validate or decrypt the message could not, for lack of a valid key.",
        "RFC 3463 §3.8",
    ),
    (7, 6): _Entry(
        "cryptographic algorithm not supported",
        "A system that should validate or decrypt the message does not support its algorithm.",
        "RFC 3463 §3.8",
    ),
    (7, 7): _Entry(
        "message integrity failure",
        "The message could not be validated because it was corrupted or altered.",
        "RFC 3463 §3.8",
    ),
    (7, 8): _Entry(
        "authentication credentials invalid",
        "The user name or password given with AUTH was wrong; ask the user for new credentials.",
        "RFC 4954 §6",
    ),
    (7, 9): _Entry(
        "authentication mechanism too weak",
        "The chosen AUTH mechanism is weaker than the server allows for this user; "
        "retry with a stronger one.",
        "RFC 4954 §6",
    ),
    (7, 10): _Entry(
        "encryption needed",
        "This authentication mechanism needs an encrypted connection first, such as TLS.",
        "RFC 5248",
    ),
    (7, 11): _Entry(
        "encryption required for requested authentication mechanism",
        "The chosen AUTH mechanism may only be used on an encrypted connection.",
        "RFC 4954 §6",
    ),
    (7, 12): _Entry(
        "password transition needed",
        "The user has to authenticate once with PLAIN before the chosen mechanism can work.",
        "RFC 4954 §6",
    ),
    (7, 13): _Entry(
        "user account disabled",
        "The credentials were right, but the account is disabled until an administrator enables it again.",
        "RFC 5248",
    ),
    (7, 20): _Entry(
        "no passing DKIM signature found",
        "The message carries no DKIM signature that verifies.",
        "RFC 7372",
    ),
    (7, 21): _Entry(
        "no acceptable DKIM signature found",
        "The message has a valid DKIM signature, but none the receiver accepts.",
        "RFC 7372",
    ),
    (7, 22): _Entry(
        "no valid author-matched DKIM signature found",
        "No valid DKIM signature belongs to the domain in the From header field.",
        "RFC 7372",
    ),
    (7, 23): _Entry(
        "SPF validation failed",
        "The sender's domain publishes an SPF record that does not allow the sending host to send its mail.",
        "RFC 7372; RFC 7208",
    ),
    (7, 24): _Entry(
        "SPF validation error",
        "Checking the sender's SPF record failed with an error, such as a broken record or a DNS problem.",
        "RFC 7372; RFC 7208",
    ),
    (7, 25): _Entry(
        "reverse DNS validation failed",
        "The sending host's IP address failed the receiver's reverse DNS check.",
        "RFC 7372",
    ),
    (7, 26): _Entry(
        "multiple authentication checks failed",
        "The message failed more than one of the receiver's checks, such as SPF, DKIM or DMARC; "
        "which ones is not said.",
        "RFC 7372",
    ),
    (7, 27): _Entry(
        "sender address has null MX",
        "The sender's domain publishes a null MX, so it can receive no bounce, and the receiver refuses "
        "mail from it.",
        "RFC 7505; RFC 5248",
    ),
}

_ENHANCED_EXACT: dict[str, _Entry] = {
    "2.0.0": _Entry("success", "Everything went fine, with no further detail.", "RFC 3463 §3.1"),
    "2.1.0": _Entry(
        "sender address accepted",
        "Sent with 250 after MAIL FROM: the sender address is fine.",
        "RFC 3463 §3.2",
    ),
    "2.1.5": _Entry(
        "recipient address valid",
        "Sent with 250 after RCPT TO: the recipient address is valid.",
        "RFC 3463 §3.2",
    ),
    "2.7.0": _Entry(
        "authentication succeeded",
        "Sent with 235 after AUTH: the client is now authenticated.",
        "RFC 4954 §6; RFC 3463 §3.8",
    ),
    "4.7.0": _Entry(
        "temporary security failure",
        "A security step failed for now, such as TLS not available or a temporary authentication failure "
        "(both 454). Try again later.",
        "RFC 3463 §3.8; RFC 4954 §6; RFC 3207 §4",
    ),
    "5.7.0": _Entry(
        "refused for a security reason",
        "A security or policy condition is not met, as in 530 \"Must issue a STARTTLS command first\" or "
        "530 \"Authentication required\". Meet the condition, then try again.",
        "RFC 3463 §3.8; RFC 3207 §4; RFC 4954 §6",
    ),
}


def explain_enhanced(enhanced: str) -> Explanation | None:
    """Explain an RFC 3463 code such as "5.1.1"; None if the text is not of the form class.subject.detail."""
    if not isinstance(enhanced, str):
        return None
    match = _ENHANCED_FORM.match(enhanced.strip())
    if match is None:
        return None
    klass, subject, detail = (int(part) for part in match.groups())
    code = f"{klass}.{subject}.{detail}"
    class_name, class_text = _CLASSES[klass]
    exact = _ENHANCED_EXACT.get(code)
    if exact is not None:
        return Explanation(f"{code}: {exact.title}", exact.text, exact.rfc)
    known = _DETAILS.get((subject, detail))
    if known is not None:
        return Explanation(f"{code}: {known.title}", f"{known.text} {class_text}", known.rfc)
    area = _SUBJECTS.get(subject)
    if area is not None:
        return Explanation(
            f"{code}: {area.title}",
            f"smtpstep has no entry for detail {detail}, but subject {subject} means: "
            f"{area.text[:1].lower()}{area.text[1:]} {class_text}",
            area.rfc,
        )
    return Explanation(
        f"{code}: {class_name}",
        f"smtpstep has no entry for subject {subject}, so only the class says something. {class_text}",
        "RFC 3463 §2",
    )


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
    "XOAUTH2": "XOAUTH2 (non-standard) sends an OAuth 2.0 token instead of a password",
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
        "more precise than the three-digit code.",
        "RFC 2034; RFC 3463 §2",
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
        "it on only over TLS to a verified server, or return it instead of sending it in clear text.",
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


# ---------------------------------------------------------------------------------------------------
# Steps: what the client does and why
# ---------------------------------------------------------------------------------------------------

_STEPS: dict[str, _Entry] = {
    "connect": _Entry(
        "connect",
        "The client opens a TCP connection: port 25 between mail servers, 587 for submission with STARTTLS, "
        "465 for submission over implicit TLS. Then it waits, because the server speaks first.",
        "RFC 5321 §3.1, §4.3.1; RFC 6409 §3.1; RFC 8314 §3.3",
    ),
    "greeting": _Entry(
        "the greeting",
        "The server speaks first: 220 and its name means it is ready. A 554 or 521 instead means it will not "
        "take mail from this client, which should QUIT; a client waits up to 5 minutes for the greeting.",
        "RFC 5321 §3.1, §4.3.1, §4.5.3.2.1; RFC 7504",
    ),
    "implicit-tls": _Entry(
        "implicit TLS",
        "On port 465 the TLS handshake starts right after connecting, before any SMTP, so not even the greeting "
        "travels in clear text. RFC 8314 prefers this for mail submission.",
        "RFC 8314 §3.3",
    ),
    "ehlo": _Entry(
        "EHLO",
        "The client introduces itself with EHLO and its name, and asks which extensions the server supports. "
        "The 250 reply lists them, one keyword per line, and the client may use only those.",
        "RFC 5321 §3.2, §4.1.1.1",
    ),
    "helo": _Entry(
        "HELO",
        "The old greeting from RFC 821: the client introduces itself but learns no extensions. "
        "Afterwards only plain SMTP is available, with no STARTTLS, AUTH or SIZE.",
        "RFC 5321 §4.1.1.1",
    ),
    "helo-fallback": _Entry(
        "fall back to HELO",
        "The server answered EHLO with 500 or 502, so it is an old server without extensions. "
        "The client sends HELO instead and carries on with plain SMTP.",
        "RFC 5321 §3.2, §4.1.4",
    ),
    "starttls": _Entry(
        "STARTTLS",
        "The client asks to turn this clear-text connection into an encrypted one. "
        "On 220 it starts the TLS handshake at once; on 454 TLS is not available, and a client that needs it "
        "stops.",
        "RFC 3207 §4",
    ),
    "tls-handshake": _Entry(
        "TLS handshake",
        "Client and server agree on keys, and the server shows a certificate that the client checks against "
        "the host name it meant to reach. From now on every byte is encrypted.",
        "RFC 3207 §4.1; RFC 7817; RFC 8314 §5.3",
    ),
    "ehlo-after-starttls": _Entry(
        "EHLO again after STARTTLS",
        "After the handshake both sides forget everything they learned before it, since an attacker could have "
        "changed it in transit. So the client asks again with EHLO, and the list may differ: AUTH often "
        "appears only now.",
        "RFC 3207 §4.2",
    ),
    "auth-plain": _Entry(
        "AUTH PLAIN",
        "The client sends one base64 string holding the user name and password, separated by NUL bytes. "
        "Base64 is an encoding, not encryption: anyone who sees the bytes can read the password, so this "
        "belongs inside TLS.",
        "RFC 4616 §2; RFC 4954 §4",
    ),
    "auth-login": _Entry(
        "AUTH LOGIN",
        "A common but non-standard mechanism: the server prompts with 334 for the user name and then the "
        "password, and the client answers each with a base64 line. Like PLAIN it shows the password to anyone "
        "watching, so it needs TLS.",
        "RFC 4954 §4",
    ),
    "auth-cram-md5": _Entry(
        "AUTH CRAM-MD5",
        "The server sends a one-time challenge, and the client answers with its user name and an MD5-based "
        "hash of the challenge keyed with the password. The password never crosses the wire, but MD5 is weak "
        "and the server must keep the password, or an equivalent of it.",
        "RFC 2195 §2; RFC 4954 §4",
    ),
    "auth-challenge": _Entry(
        "answer the AUTH challenge",
        "The server sent 334 and waits; its text is a base64 challenge, possibly empty. "
        "The client answers with exactly one base64 line, or with '*' to give up, which the server answers "
        "with 501.",
        "RFC 4954 §4",
    ),
    "mail": _Entry(
        "MAIL FROM",
        "The client starts a mail transaction by naming the sender, the address where bounces go; the empty "
        "sender <> is what bounces themselves use. Parameters such as SIZE= or BODY= may follow, if the "
        "server offered those extensions.",
        "RFC 5321 §3.3, §4.1.1.2, §4.5.5",
    ),
    "rcpt": _Entry(
        "RCPT TO",
        "The client names one recipient, and repeats the command for each further one. "
        "Each gets its own reply, so some may be accepted and others refused; a server must accept at least "
        "100 recipients.",
        "RFC 5321 §3.3, §4.1.1.3, §4.5.3.1.8",
    ),
    "data": _Entry(
        "DATA",
        "The client asks to send the message. It must wait for 354 before sending a single line of it, "
        "and any other reply means the message must not be sent.",
        "RFC 5321 §3.3, §4.1.1.4",
    ),
    "message": _Entry(
        "the message and the final dot",
        "The client sends the header fields, a blank line and the body, then a line holding only a dot "
        "(<CRLF>.<CRLF>). Lines end in CRLF and stay within 1000 octets; the reply to the dot says whether the "
        "server took the message.",
        "RFC 5321 §4.1.1.4, §4.5.3.1.6, §4.2.5",
    ),
    "dot-stuffing": _Entry(
        "dot-stuffing",
        "A message line that starts with a dot could be mistaken for the end, so the client adds one more dot "
        "in front of it and the server removes it again. A line \".hidden\" travels as \"..hidden\".",
        "RFC 5321 §4.5.2",
    ),
    "rset": _Entry(
        "RSET",
        "The client aborts the current transaction: the server forgets the sender, recipients and data. "
        "The session, with its EHLO, TLS and AUTH, stays as it was.",
        "RFC 5321 §4.1.1.5",
    ),
    "noop": _Entry(
        "NOOP",
        "The client asks the server to do nothing and reply 250: a way to check that the connection is alive "
        "or to keep it from timing out.",
        "RFC 5321 §4.1.1.9",
    ),
    "vrfy": _Entry(
        "VRFY",
        "The client asks whether a mailbox exists. Because that helps spammers collect addresses, many servers "
        "answer 252 (cannot verify, will try delivery) or refuse.",
        "RFC 5321 §3.5, §4.1.1.6, §7.3",
    ),
    "help": _Entry(
        "HELP",
        "The client asks for help text meant for humans, answered with 214 or 211. It changes nothing in the "
        "session.",
        "RFC 5321 §4.1.1.8",
    ),
    "quit": _Entry(
        "QUIT",
        "The client ends the session politely: the server replies 221 and closes the connection. "
        "QUIT should be the last command of every session.",
        "RFC 5321 §3.8, §4.1.1.10, §4.1.4",
    ),
    "raw": _Entry(
        "a raw line",
        "The user typed a line, and the client sends it as written with CRLF, without checking whether it "
        "fits the current state. The server's reply shows how it treats the line, even a wrong one.",
        "RFC 5321 §2.3.8, §4.2, §4.3.2",
    ),
    "pipelining": _Entry(
        "pipelining",
        "The server offered PIPELINING, so the client sends several commands at once, such as MAIL, RCPT and "
        "DATA, and then reads the replies, matching them to the commands in order. This saves a round trip "
        "per command; DATA must end the group.",
        "RFC 2920 §3.1",
    ),
    "closed": _Entry(
        "connection closed",
        "The connection is closed, after QUIT and 221 or because the server hung up (often after 421). "
        "Nothing more can be sent; connect again for a new session.",
        "RFC 5321 §3.8",
    ),
    "starttls-missing": _Entry(
        "STARTTLS required but not offered",
        "TLS is required, but the EHLO reply does not list STARTTLS. Someone in the middle may have deleted it "
        "to keep the session readable (STARTTLS stripping), so the client stops instead of sending mail or a "
        "password in clear text.",
        "RFC 3207 §6; RFC 8314 §5.2",
    ),
    "tls-verify-failed": _Entry(
        "certificate check failed",
        "The server's certificate is not trusted, has expired or names another host, so the client cannot be "
        "sure it reached the real server. It stops, because anyone in the middle could show such a "
        "certificate.",
        "RFC 8314 §5.3; RFC 7817; RFC 3207 §4.1",
    ),
    "cleartext-auth-refused": _Entry(
        "no password over clear text",
        "The connection is not encrypted, and PLAIN or LOGIN would send the password readable to anyone on "
        "the path. The client refuses to authenticate until TLS is up, with STARTTLS or on port 465.",
        "RFC 4954 §4, §9; RFC 8314 §5.2",
    ),
}

STEPS: tuple[str, ...] = tuple(_STEPS)
"""Every step key ``explain_step`` knows."""


def explain_step(step: str) -> Explanation:
    """Explain a step: what the client does and why. An unknown key gets a short generic explanation."""
    key = re.sub(r"[\s_]+", "-", str(step).strip().lower())
    entry = _STEPS.get(key)
    if entry is None:
        return Explanation(
            str(step).strip() or "(no step)",
            "smtpstep has no explanation for this step. Every SMTP exchange is a command and its reply.",
            "RFC 5321 §4.3.1",
        )
    return Explanation(entry.title, entry.text, entry.rfc)
