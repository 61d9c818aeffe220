"""What the explanation pane says about a session view: the step, the reply decoded, the RFC section.

Builds plain ``Block`` values from a ``SessionView`` and the explanation catalog, so that the pane,
the presentation captions and exports say the same thing. No Textual here; nothing is parsed: replies
arrive already parsed by the protocol core.
"""

from __future__ import annotations

from dataclasses import dataclass

from smtpstep.app.session.stepper import SessionView
from smtpstep.protocol.client import Answer
from smtpstep.protocol.commands import Auth, Command, MailFrom, MessageBody, Raw, RcptTo, Verb
from smtpstep.protocol.explanations import explain_keyword, explain_reply, explain_step
from smtpstep.protocol.explanations.keywords import explain_parameters
from smtpstep.protocol.text import shown, shown_lines


@dataclass(frozen=True)
class Block:
    """A paragraph of the explanation: a style key, a heading, text and the citation.

    Its words are shown text (``smtpstep.protocol.text.shown``): a block may quote a server (an EHLO
    keyword line, a failure, a halt) or a lesson file, and every renderer of it (the pane, the
    presentation, .md, .html and .svg exports, lecture notes) gets the escaped form.
    """

    kind: str
    """step, reply, keyword, error, warning, halt, hint."""
    title: str
    text: str = ""
    rfc: str = ""

    def __post_init__(self) -> None:
        for name in ("title", "text", "rfc"):
            value = getattr(self, name)
            if not value.isprintable():  # the text may hold line breaks of its own (paragraphs, TLS facts)
                object.__setattr__(self, name, shown_lines(value) if name == "text" else shown(value))


def step_key(command: Command, view: SessionView | None = None) -> str:
    """The explanation catalog's key for a step."""
    verb = command.acts_as if isinstance(command, Raw) else command.verb
    session = view.snapshot.client.session if view else None
    if verb == Verb.EHLO and session is not None and session.tls and session.before_tls is not None:
        return "ehlo-after-starttls"
    if verb == Verb.HELO and session is not None and session.ehlo_refused:
        return "helo-fallback"
    if verb == Verb.TLS_HANDSHAKE and session is not None and session.implicit_tls and session.greeting is None:
        return "implicit-tls"
    if verb == Verb.AUTH:
        mech = command.mechanism if isinstance(command, Auth) else ""
        return {"PLAIN": "auth-plain", "LOGIN": "auth-login", "CRAM-MD5": "auth-cram-md5", "XOAUTH2": "auth-xoauth2",
                "OAUTHBEARER": "auth-oauthbearer"}.get(mech, "auth-plain")
    if isinstance(command, Raw) and verb == Verb.RAW:
        return "raw"
    return {
        Verb.CONNECT: "connect", Verb.GREETING: "greeting", Verb.TLS_HANDSHAKE: "tls-handshake",
        Verb.EHLO: "ehlo", Verb.HELO: "helo", Verb.STARTTLS: "starttls", Verb.AUTH_RESPONSE: "auth-challenge",
        Verb.MAIL: "mail", Verb.RCPT: "rcpt", Verb.DATA: "data", Verb.MESSAGE: "message", Verb.RSET: "rset",
        Verb.NOOP: "noop", Verb.VRFY: "vrfy", Verb.EXPN: "expn", Verb.HELP: "help", Verb.QUIT: "quit",
        Verb.BDAT: "bdat", Verb.BDAT_LAST: "bdat-last", Verb.DNS: "dns-lookup",
    }.get(verb, "raw")


_VERB_FOR_REPLY = {
    Verb.GREETING: "GREETING", Verb.MESSAGE: "MESSAGE", Verb.AUTH_RESPONSE: "AUTH", Verb.CONNECT: "GREETING",
    Verb.BDAT_LAST: "MESSAGE",
}


def reply_blocks(answer: Answer) -> list[Block]:
    """The reply explained from what the server said: its code, its enhanced code (the one it sent, or
    that it sent none) and its words, in answer to the command it answers."""
    command = answer.command
    verb = command.acts_as if isinstance(command, Raw) else command.verb
    reply = answer.reply
    decoded = explain_reply(reply.code, reply.enhanced, verb=_VERB_FOR_REPLY.get(verb, verb.value),
                            text=reply.lines)
    text = f"{decoded.kind.capitalize()}: {decoded.kind_text} Category: {decoded.category}."
    blocks = [
        Block("reply", decoded.meaning.title, decoded.meaning.text, decoded.meaning.rfc),
        Block("reply-digits", "What the digits say", text, "RFC 5321 §4.2.1"),
    ]
    if decoded.enhanced is not None:
        blocks.append(Block("reply-enhanced", decoded.enhanced.title,
                            decoded.enhanced.text, decoded.enhanced.rfc))
    elif reply.transient or reply.permanent:
        blocks.append(Block("reply-enhanced", "No enhanced status code",
                            "The server sent none with this reply, so its three digits and its own words are all "
                            "there is to go on.", "RFC 3463 §2; RFC 2034 §4"))
    return blocks


def keyword_blocks(answer: Answer) -> list[Block]:
    """After EHLO: one block per advertised keyword."""
    blocks = []
    for line in answer.reply.lines[1:]:
        word, _, params = line.strip().partition(" ")
        if word:
            info = explain_keyword(word, params)
            blocks.append(Block("keyword", line.strip(), info.text, info.rfc))
    return blocks


def narrate(view: SessionView) -> list[Block]:
    """The explanation of what just happened, most important first."""
    blocks: list[Block] = []
    result = view.last
    if result is None:
        target = view.snapshot.target
        first = view.queue[0].command if view.queue else None
        action = f"open a TCP connection to {target.shown}"
        if first is not None and first.verb == Verb.DNS:
            action = "ask DNS where the mail goes"
        blocks.append(Block(
            "hint", "Ready",
            f"Press space to take the first step: {action}. Each press sends "
            "one command (or waits for one reply) and shows every byte in the wire log.",
        ))
        if first is not None:
            info = explain_step(step_key(first, view))
            blocks.append(Block("step", info.title, info.text, info.rfc))
        return blocks
    command = result.commands[-1]
    info = explain_step(step_key(command, view))
    if result.failure is not None:
        blocks.append(Block("error", "What went wrong", _sentence(result.failure.message)))
        if view.explanation_key:
            extra = explain_step(view.explanation_key)
            blocks.append(Block("step", extra.title, extra.text, extra.rfc))
    for discarded in result.discarded:
        blocks.append(Block("warning", f"{len(discarded.data)} bytes thrown away", _sentence(discarded.reason)))
    blocks.append(Block("step", info.title, info.text, info.rfc))
    if result.lookup is not None:  # the answer came from DNS, perhaps from the network: a Block escapes it
        source = f" (asked: {result.lookup.source})" if result.lookup.source else ""
        blocks.append(Block("reply", "The DNS answer", result.lookup.line() + source, "RFC 5321 §5.1"))
    for sent in result.commands:
        if isinstance(sent, (MailFrom, RcptTo)):  # DSN and REQUIRETLS parameters (RFC 3461 §4, RFC 8689 §2)
            blocks.extend(Block("step", p.title, p.text, p.rfc) for p in explain_parameters(sent.parameters))
    if isinstance(command, MessageBody):
        stuffed = command.stuffed_lines
        if stuffed:
            dots = explain_step("dot-stuffing")
            blocks.append(Block("step", f"{dots.title} ({stuffed} line{'s' if stuffed != 1 else ''} here)",
                                dots.text, dots.rfc))
        if command.long_lines:
            blocks.append(Block("warning", "Long lines",
                                f"Lines {', '.join(map(str, command.long_lines[:5]))} are over 998 characters; "
                                "servers may refuse or break them.", "RFC 5322 §2.1.1"))
    for answer in result.answers:
        blocks.extend(reply_blocks(answer))
        verb = answer.command.acts_as if isinstance(answer.command, Raw) else answer.command.verb
        if verb == Verb.EHLO and answer.reply.positive:
            blocks.extend(keyword_blocks(answer))
    if view.halt and result.failure is None:
        blocks.insert(0, Block("halt", "The planned session stops here", _sentence(view.halt)))
        if view.explanation_key:
            extra = explain_step(view.explanation_key)
            blocks.insert(1, Block("step", extra.title, extra.text, extra.rfc))
    return blocks


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
