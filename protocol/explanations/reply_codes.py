"""Reply codes: what a three-digit SMTP reply means, digit by digit and, where the catalog knows it, in
reply to the command it answers (RFC 5321 §4.2), with its enhanced status code (RFC 3463).

Pure: no I/O. It never raises for odd input: an unknown code gets an explanation built from its digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from smtpstep.protocol.explanations.enhanced_codes import explain_enhanced
from smtpstep.protocol.explanations.model import Entry, Explanation


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
        "The server will not say whether the mailbox exists, often to protect privacy, but it will accept "
        "mail for it and try to deliver.",
        "RFC 5321 §3.5.3, §4.2.3",
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
        "It may say this in answer to any command; the client tries again later.",
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
        "(greylisting works this way). The client tries again later.",
        "RFC 5321 §4.2.2, §4.2.3",
    ),
    451: Entry(
        "local error in processing",
        "Something went wrong on the server's side and it aborted the action. It is temporary: try again later.",
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
        "This host never accepts mail, and says so instead of the 220 greeting. "
        "The client should not try this host again.",
        "RFC 7504",
    ),
    530: Entry(
        "access denied until a condition is met",
        "The server refuses this command until something is done first: STARTTLS "
        "(\"Must issue a STARTTLS command first\") or AUTH (\"Authentication required\"). "
        "The text and the enhanced code 5.7.0 tell which.",
        "RFC 3207 §4; RFC 4954 §6",
    ),
    534: Entry(
        "authentication mechanism too weak",
        "The server's policy does not allow this mechanism for this user. "
        "The client retries AUTH with a stronger mechanism.",
        "RFC 4954 §6",
    ),
    535: Entry(
        "authentication credentials invalid",
        "The user name or password (or other credentials) was wrong. "
        "The client should ask the user for new credentials rather than repeat the same ones.",
        "RFC 4954 §6",
    ),
    538: Entry(
        "encryption required for this mechanism",
        "This mechanism may only be used on an encrypted connection, so STARTTLS must come first. "
        "The code survives for history: modern servers simply do not offer such mechanisms before TLS.",
        "RFC 4954 §6",
    ),
    550: Entry(
        "mailbox unavailable",
        "The action was refused for good: the mailbox does not exist, access is denied, or policy forbids it "
        "(relaying denied, suspected spam). Do not retry it unchanged.",
        "RFC 5321 §3.3, §4.2.3",
    ),
    551: Entry(
        "user not local",
        "The mailbox is not on this server; the text may say where it is. "
        "The client should send it there instead.",
        "RFC 5321 §3.4, §4.2.3",
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
        "RFC 5321 §4.1.1.1",
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
        "The server confirms that the mailbox exists, and usually gives its full name and address.",
        "RFC 5321 §3.5.2, §4.1.1.6",
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
        "The client tries again later.",
        "RFC 5321 §3.8, §4.3.2",
    ),
    (450, "RCPT"): Entry(
        "recipient temporarily refused",
        "The mailbox cannot take mail now, or the server is greylisting: it turns away the first attempt "
        "from an unknown sender and expects a retry some minutes later.",
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
        "RFC 3207 §4, §4.1",
    ),
    (454, "AUTH"): Entry(
        "temporary authentication failure",
        "Authentication failed because of a problem on the server, not because of the password. "
        "The client should not ask for a new password; it tells the user and tries later.",
        "RFC 4954 §6",
    ),
    (500, "EHLO"): Entry(
        "EHLO not recognized: fall back to HELO",
        "This is an old server that knows only HELO. The client sends HELO instead and goes on without "
        "extensions.",
        "RFC 5321 §3.2, §4.1.4",
    ),
    (502, "EHLO"): Entry(
        "EHLO not implemented: fall back to HELO",
        "This is an old server that knows only HELO. The client sends HELO instead and goes on without "
        "extensions.",
        "RFC 5321 §3.2, §4.3.2",
    ),
    (500, "AUTH"): Entry(
        "AUTH line too long",
        "A line of the AUTH exchange was longer than the server's buffer, so the authentication failed. "
        "The usual enhanced code is 5.5.6.",
        "RFC 4954 §4, §6",
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
        "AUTH is refused here because the session is already authenticated or a mail transaction is open.",
        "RFC 4954 §4",
    ),
    (503, "MAIL"): Entry(
        "MAIL not allowed now",
        "MAIL is refused here: a transaction is already open (RSET closes it), or the client has not "
        "introduced itself with EHLO or HELO.",
        "RFC 5321 §4.1.1.1, §4.1.4",
    ),
    (503, "RCPT"): Entry(
        "need MAIL first",
        "RCPT came before any accepted MAIL FROM. Start the transaction with MAIL FROM.",
        "RFC 5321 §3.3, §4.1.4",
    ),
    (503, "DATA"): Entry(
        "need RCPT first",
        "DATA came before any recipient was accepted. Give at least one RCPT TO that the server accepts.",
        "RFC 5321 §3.3, §4.1.4",
    ),
    (504, "AUTH"): Entry(
        "mechanism not supported",
        "The server does not support this SASL mechanism, at least not on this connection. "
        "Pick one that the EHLO reply lists after AUTH.",
        "RFC 4954 §4",
    ),
    (530, "STARTTLS"): Entry(
        "must issue STARTTLS first",
        "This server requires TLS. Until STARTTLS has succeeded it refuses every command except NOOP, EHLO, "
        "STARTTLS and QUIT.",
        "RFC 3207 §4",
    ),
    (530, "AUTH"): Entry(
        "authentication required",
        "The server's policy requires AUTH before this command, as is usual for MAIL on a submission port. "
        "Authenticate, then try again.",
        "RFC 4954 §6",
    ),
    (550, "MAIL"): Entry(
        "sender refused",
        "The server refuses this sender for good, typically by policy, for example a failed SPF check "
        "or a blocked address.",
        "RFC 5321 §3.3",
    ),
    (550, "RCPT"): Entry(
        "recipient refused",
        "There is no such mailbox here, or the server will not relay to that domain. "
        "Fix or drop this recipient; the others already accepted stay valid.",
        "RFC 5321 §3.3, §4.1.1.3",
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
        "Instead of 220 the server refuses the whole session. It waits for QUIT and answers anything else "
        "with 503, so the client sends QUIT.",
        "RFC 5321 §3.1, §4.3.2",
    ),
    (554, "DATA"): Entry(
        "no valid recipients",
        "DATA is refused, usually because no recipient was accepted. The client must not send the message.",
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

