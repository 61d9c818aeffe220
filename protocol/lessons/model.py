"""The lesson model: a lesson, its parts (one session each), how each session goes, and what the
lesson says about every step and expects it to get.

Lessons describe what a session needs; the app turns that into its own settings. Pure values and the
protocol core only: reading files is ``loader.py``'s job.
"""


from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smtpstep.protocol import sasl
from smtpstep.protocol.command_parser import parse_command
from smtpstep.protocol.commands import Command, DnsLookup, Expn, Help, Noop, Raw, Verb, Vrfy
from smtpstep.protocol.planner import SessionPlan
from smtpstep.protocol.server.facts import DEMO_PASSWORD, DEMO_USER
from smtpstep.protocol.transport.wire import Target

STEP_KINDS: Mapping[Verb, str] = {
    Verb.CONNECT: "connect", Verb.GREETING: "greeting", Verb.TLS_HANDSHAKE: "tls-handshake", Verb.EHLO: "ehlo",
    Verb.HELO: "helo", Verb.STARTTLS: "starttls", Verb.AUTH: "auth", Verb.AUTH_RESPONSE: "auth-response",
    Verb.MAIL: "mail", Verb.RCPT: "rcpt", Verb.DATA: "data", Verb.MESSAGE: "message", Verb.BDAT: "bdat",
    Verb.BDAT_LAST: "bdat-last", Verb.RSET: "rset", Verb.NOOP: "noop", Verb.VRFY: "vrfy", Verb.EXPN: "expn",
    Verb.HELP: "help", Verb.QUIT: "quit", Verb.RAW: "raw",
}
"""The name a lesson file gives each kind of step (``kind = "ehlo"``)."""

DNS_STEP_KINDS = ("dns-mx", "dns-a", "dns-aaaa")
"""The names of a DNS step, by the record type it asks for (``DnsLookup``, RFC 5321 §5.1)."""

PROBE_COMMANDS = (Vrfy, Expn, Noop, Help)
"""What a lesson's ``probes`` may send before MAIL FROM: commands that change nothing in the session
(RFC 5321 §4.1.4 lets them come at any time)."""

MAX_PROBES = 20
"""Most commands in a session's ``probes``."""

FAILURE_KINDS = ("resolve", "refused", "connect", "timeout", "closed", "tls", "protocol", "not-allowed", "policy")
"""``transport.Failure.kind`` values a step may be expected to end with (``failure = "tls"``)."""

MITM_MODES = ("strip-starttls",)
"""Men in the middle a lesson part can put between client and server (``smtpstep.protocol.server.relay``)."""

AUTH_CHOICES = ("none", *sasl.MECHANISMS)

DEFAULT_FROM = "student@client.smtpstep.test"
DEFAULT_TO = ("teacher@example.test",)
DEFAULT_SUBJECT = "A lesson from smtpstep"
DEFAULT_HELO = "client.smtpstep.test"
DEFAULT_BODY = "Hello!\n\nThis message was sent by smtpstep, one SMTP command at a time.\n"


class LessonError(ValueError):
    """A lesson cannot be loaded. ``str(error)`` is one plain sentence that starts with where:
    ``file.toml, line 12: step 3, "kind": ...``."""

    def __init__(self, problem: str, *, source: str = "", line: int | None = None, where: str = "") -> None:
        self.problem = problem
        self.source = source
        """The file (or lesson name) at fault."""
        self.line = line
        """1-based line in the file, when known."""
        self.where = where
        """The field, e.g. ``step 3, "expect"``."""
        place = source + (f", line {line}" if line else "")
        text = ": ".join(part for part in (place, where, problem) if part)
        super().__init__(text)


# --- The model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepNote:
    """What the lesson says about one step, and what the step should get."""

    kind: str
    """``STEP_KINDS`` value, or several joined with "+" for a pipelined group ("mail+rcpt+data")."""
    say: str
    """The narration: a sentence or two, with RFC sections."""
    expect: tuple[str, ...] = ()
    """The replies the step should get, one per command: "250" or "550 5.1.1"."""
    failure: str | None = None
    """The ``Failure.kind`` the step should end with (e.g. "tls"), if it should fail."""

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.kind.split("+"))

    def matches(self, commands: Command | Sequence[Command]) -> bool:
        """Whether ``commands`` (the step just taken) is the step this note is about."""
        return step_kind(commands) == self.kind

    def unexpected(self, replies: Iterable[tuple[int, str | None]], failure: str | None) -> str | None:
        """Why the step's outcome differs from what the lesson expects, or None if it is as expected."""
        got = [f"{code} {enhanced}" if enhanced else str(code) for code, enhanced in replies]
        for index, wanted in enumerate(self.expect):
            if index >= len(got):
                return f"expected {' '.join(self.expect)}, but only {' '.join(got) or 'no reply'} came"
            code, _, enhanced = wanted.partition(" ")
            have_code, _, have_enhanced = got[index].partition(" ")
            if code != have_code or (enhanced and enhanced != have_enhanced):
                return f"expected {wanted} for reply {index + 1}, got {got[index]}"
        if failure != self.failure:
            return f"expected {'failure ' + self.failure if self.failure else 'no failure'}, got " \
                   f"{'failure ' + failure if failure else 'no failure'}"
        return None


@dataclass(frozen=True)
class SessionSpec:
    """How one part's session goes; every field has a default, so a lesson names only what matters."""

    security: str = "starttls"
    """starttls, tls or none, as ``--security``."""
    auth: str = "none"
    """"none", or the AUTH mechanism to use with the demo account: PLAIN, LOGIN or CRAM-MD5."""
    user: str = DEMO_USER
    password: str = field(default=DEMO_PASSWORD, repr=False)
    """Only for a lesson about a refused login: the built-in server knows student / classroom."""
    helo: str = DEFAULT_HELO
    mail_from: str = DEFAULT_FROM
    rcpt_tos: tuple[str, ...] = DEFAULT_TO
    subject: str = DEFAULT_SUBJECT
    body: str = DEFAULT_BODY
    body_repeat: int = 1
    """The body is this many copies of ``body`` (a message too big for the size-limit lesson)."""
    raw_message: str | None = None
    """The whole message (headers, body) as given, instead of one built from subject and body."""
    exact: bool = False
    """Send ``raw_message`` byte for byte: no dot-stuffing, bare CR/LF kept; it ends with CRLF.CRLF."""
    pipelining: bool = False
    """Send MAIL, RCPT... and DATA as one group when the server offers PIPELINING (RFC 2920)."""
    bdat: int | None = None
    """Send the message in BDAT chunks of this many octets (0: in one chunk) when the server offers CHUNKING
    (RFC 3030), instead of DATA."""
    declare_size: bool = True
    """Declare SIZE= on MAIL FROM when the server offers SIZE (RFC 1870)."""
    allow_cleartext_auth: bool = False
    sni: str | None = None
    """The server name the client asks for and checks the certificate against (RFC 6066 §3)."""
    mitm: str | None = None
    """A man in the middle between client and server: "strip-starttls" (``smtpstep.protocol.server.relay``)."""
    quit_after: str | None = None
    """A phase from ``planner.PHASES``, as ``--quit-after``."""
    mx: bool = False
    """Find the server in the lessons' DNS zone first, a step per lookup (MX of the first recipient's domain,
    then the host's address), as a mail server does (RFC 5321 §5.1); the zone points at the built-in server."""
    probes: tuple[str, ...] = ()
    """Command lines (VRFY, EXPN, NOOP, HELP) sent once the session is open and before MAIL FROM."""
    verify: bool = True
    """Check the server's certificate; false only for a lesson that shows an opportunistic sender, which encrypts
    without checking (RFC 7435): every screen then marks the TLS as not verified."""
    mta: bool = False
    """The client plays a sending mail server: it connects to the port-25 listener (STARTTLS, no AUTH)."""
    notify: tuple[str, ...] | None = None
    """NOTIFY= on each RCPT TO (RFC 3461 §4.1), where the server advertises DSN."""
    ret: str | None = None
    """RET=FULL or HDRS on MAIL FROM (RFC 3461 §4.3), where the server advertises DSN."""
    envid: str | None = None
    """ENVID= on MAIL FROM (RFC 3461 §4.4), where the server advertises DSN."""
    orcpt: bool = False
    """ORCPT=rfc822;<recipient> on each RCPT TO (RFC 3461 §4.2), where the server advertises DSN."""
    requiretls: bool = False
    """REQUIRETLS on MAIL FROM (RFC 8689 §2), where the server advertises it under TLS."""


@dataclass(frozen=True)
class Part:
    """One session of a lesson."""

    title: str
    intro: str
    """Shown before the part's first step."""
    session: SessionSpec
    steps: tuple[StepNote, ...]
    exit: int | None = None
    """The exit code ``smtpstep run`` should end this part with (0: the message was accepted)."""


@dataclass(frozen=True)
class Lesson:
    """A lesson: what it teaches, the server scenario, and its parts."""

    name: str
    title: str
    summary: str
    """One line for ``smtpstep lessons``."""
    goal: str
    scenario: str
    """The built-in server's scenario (``local_server.SCENARIOS``)."""
    parts: tuple[Part, ...]
    source: str = ""
    """The file it was read from."""
    order: int = 1000
    """Where it comes in the catalog listing."""
    line_ends: bool | None = None
    """Show line ends as visible marks (␍␊, and a bare LF as ␊) from the start; None: only when a part sends
    its message exactly as given (``SessionSpec.exact``), whose bare line ends are the point."""

    @property
    def shows_line_ends(self) -> bool:
        """Whether the wire log starts with line-end marks on for this lesson (``line_ends``)."""
        if self.line_ends is not None:
            return self.line_ends
        return any(part.session.exact for part in self.parts)

    def part(self, index: int = 0) -> Part:
        if not 0 <= index < len(self.parts):
            raise IndexError(f"lesson {self.name} has {len(self.parts)} part(s), not a part {index + 1}")
        return self.parts[index]

    # -- what a session needs ----------------------------------------------------------------------

    def plan(self, plan: SessionPlan, part: int = 0) -> SessionPlan:
        """``plan`` (made from settings set up for this part) with the lesson's protocol choices: the
        AUTH mechanism, pipelining, SIZE, and a message given as is."""
        spec = self.part(part).session
        values: dict[str, Any] = {
            "mechanism": None if spec.auth == "none" else spec.auth,
            "pipelining": spec.pipelining,
            "bdat": spec.bdat,
            "size_param": spec.declare_size,
            "exact_message": spec.exact,
            "probes": probe_commands(spec.probes),
        }
        if spec.raw_message is not None:
            values["message"] = spec.raw_message.encode("utf-8")
        return dataclasses.replace(plan, **values)

    def target(self, target: Target, part: int = 0, *, port: int | None = None) -> Target:
        """``target`` (the built-in server's) with the part's server name, and ``port`` instead of the
        server's when a man in the middle relays the connection."""
        spec = self.part(part).session
        values: dict[str, Any] = {}
        if spec.sni:
            values["server_hostname"] = spec.sni
        if spec.mx:
            values["dns"] = "zone"
        if port is not None:
            values["port"] = port
        return dataclasses.replace(target, **values) if values else target

    # -- narration ---------------------------------------------------------------------------------

    def note_for(self, step_index: int, commands: Command | Sequence[Command], part: int = 0) -> StepNote | None:
        """The note for the step just taken: the ``step_index``-th (0 for the first) of ``part``, if
        it is about the same kind of step; None once the session has left the lesson's path."""
        steps = self.part(part).steps
        if not 0 <= step_index < len(steps):
            return None
        note = steps[step_index]
        return note if note.matches(commands) else None

    def narration_for(self, step_index: int, commands: Command | Sequence[Command], part: int = 0) -> str | None:
        """The narration for the step just taken (see ``note_for``), or None."""
        note = self.note_for(step_index, commands, part)
        return note.say if note is not None else None

    def describe(self) -> list[str]:
        """Lines for ``smtpstep lessons NAME``: what the lesson shows and the steps of each part."""
        lines = [f"{self.name}: {self.title}", f"  {self.summary}", "", *_wrap(self.goal, "  "),
                 "", f"  server scenario: {self.scenario}"]
        for number, part in enumerate(self.parts, 1):
            spec = part.session
            lines.append("")
            heading = f"part {number} of {len(self.parts)}: {part.title}" if len(self.parts) > 1 else part.title
            lines.append(f"  {heading} (security {spec.security}, AUTH {spec.auth}"
                         + (f", man in the middle: {spec.mitm}" if spec.mitm else "")
                         + (f", server name {spec.sni}" if spec.sni else "")
                         + (", as a sending MTA on port 25" if spec.mta else "")
                         + (", certificate NOT checked" if not spec.verify else "") + ")")
            for index, note in enumerate(part.steps, 1):
                outcome = " ".join(note.expect) + (f" (fails: {note.failure})" if note.failure else "")
                lines.append(f"    {index:>2}. {note.kind:<14} {outcome}".rstrip())
        return lines


def step_kind(commands: Command | Sequence[Command]) -> str:
    """The lesson file's name for a step: "ehlo", or "mail+rcpt+data" for a pipelined group."""
    group = (commands,) if isinstance(commands, Command) else tuple(commands)
    names = []
    for command in group:
        if isinstance(command, DnsLookup):
            names.append(f"dns-{command.rdtype.lower()}")
            continue
        verb = command.acts_as if isinstance(command, Raw) else command.verb
        names.append(STEP_KINDS.get(verb, "raw"))
    return "+".join(names)


def probe_commands(lines: Iterable[str]) -> tuple[Command, ...]:
    """A session's ``probes`` as commands; ``InvalidCommand`` or ``ValueError`` names a line that is not one
    of ``PROBE_COMMANDS``."""
    commands = []
    for line in lines:
        command = parse_command(line)
        if not isinstance(command, PROBE_COMMANDS):
            raise ValueError(f"“{line[:60]}” is not VRFY, EXPN, NOOP or HELP with its argument")
        commands.append(command)
    return tuple(commands)


def _wrap(text: str, indent: str, width: int = 96) -> list[str]:
    import textwrap

    out: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        out += textwrap.wrap(" ".join(paragraph.split()), width, initial_indent=indent, subsequent_indent=indent)
        out.append("")
    return out[:-1]
