"""The sequence (ladder) diagram of a session: the figure every textbook draws for SMTP.

Holds ``Diagram`` (lifelines and, in order, one arrow per command and per reply and a note per
pseudo-step, failure or change a man in the middle made) and ``build_diagram``, which makes it from
the session views (the view after each step), live or from a recording. The diagram view
(``widgets/sequence_diagram.py``) and the exports (``output/diagrams.py``: Mermaid, PlantUML and a
standalone SVG) draw this one value, so they always agree.

Rules:
- every arrow and note says what it carries in words bounded and escaped here (text from a server, a
  recording or a relay is untrusted: controls become visible escapes, length is capped before it is
  expanded); renderers escape it once more for their own syntax;
- secrets never reach it: command labels are the commands' own redacted labels (AUTH payloads are
  secret spans), and the password and the base64 forms that carry it are blanked in every text;
- the part of the session inside TLS is marked on each item (``tls``), so that a renderer can bracket
  and label it: meaning never rests on colour alone;
- a relay (the man in the middle of the STARTTLS-stripping lesson) is a third lifeline between client
  and server. The client sees only its side: the relay's hops carry what it passed on unchanged, and
  each change the relay reported is a note of its own, where it happened;
- the built-in server's second hop (the relaying scenario: its own SMTP session to the receiving MX) is a
  lane of its own right of the server, the MX, drawn at the step whose reply named the message it relayed:
  its DNS questions as notes over the server, its commands and the MX's replies as arrows. Its lines come
  from the server's note (``facts.ServerNote``), kept in a recording's meta data (``hop_meta``);
- no Textual, no Rich: plain values only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from smtpstep.app.session.stepper import REFUSED_BEFORE_SENDING, SessionView
from smtpstep.app.session.transcript import SECRET_MASK
from smtpstep.protocol.commands import Command, MessageBody, Raw, Verb
from smtpstep.protocol.replies import Reply, printable

if TYPE_CHECKING:
    from smtpstep.app.session.recording import Recording
    from smtpstep.protocol.lessons.model import Lesson

CLIENT, RELAY, SERVER, MX = "client", "relay", "server", "mx"
"""Lifeline keys, in the order they stand from left to right."""

HOP_LINES_KEPT = 400
"""Lines of one relay hop a recording's meta data may bring (it is text from outside, bounded here)."""
HOP_META_LIMIT = 512 * 1024
"""Characters of the hops' JSON in a recording's meta data read at most (bounded before it is parsed)."""

LABEL_LIMIT = 72
"""Characters of an arrow's label at most (a long reply or command is cut with "…")."""

NOTE_LIMIT = 240
"""Characters of a note at most (renderers wrap it)."""

FAILURE_WORDS = {
    "resolve": "the host name was not found",
    "refused": "the connection was refused",
    "connect": "the connection failed",
    "timeout": "no reply in time",
    "closed": "the connection closed",
    "tls": "the TLS handshake or certificate check failed",
    "protocol": "the server broke the protocol",
    "not-allowed": "not sent: it does not fit the session now",
    "policy": "not sent: no password over clear text",
}
"""A failed step in a few words, for captions and notes (the explanation has the whole sentence)."""

MITM_KINDS = ("strip-starttls",)
"""The men in the middle a lesson can put between client and server (``protocol/server/relay.py``)."""

# What the relay reports (``protocol/server/relay.py``, ``_Link``), by the exchange it concerns.
_TAMPER_ON_REPLY = re.compile(r"EHLO reply", re.I)
_TAMPER_ON_COMMAND = re.compile(r"sent STARTTLS anyway", re.I)
_TAMPER_ON_HANDSHAKE = re.compile(r"implicit TLS|first byte", re.I)


@dataclass(frozen=True)
class Lifeline:
    """One participant: a key (``client``, ``relay``, ``server``) and its title."""

    key: str
    title: str


@dataclass(frozen=True)
class Arrow:
    """One message from one lifeline to another: a command, a reply, or opening the connection."""

    step: int
    """The step (1 for the first) that sent or received it."""
    source: str
    target: str
    text: str
    """What it carries: "EHLO client.smtpstep.test", "250 mail.smtpstep.test · SIZE 8BITMIME"."""
    kind: str
    """command, reply or connect."""
    tls: bool
    """True when it travelled inside TLS."""
    code: int | None = None
    """A reply's code."""
    relayed: bool = False
    """A hop the client did not see: the relay passed on what it got (see the module's rules)."""

    @property
    def reply(self) -> bool:
        return self.kind == "reply"


@dataclass(frozen=True)
class Note:
    """A note over one or more lifelines: the TLS handshake, a failure, what the relay changed."""

    step: int
    over: tuple[str, ...]
    text: str
    kind: str
    """handshake (TLS starts here), failure, tamper, discarded, dot-stuffing or dns (a lookup before connecting)."""
    tls: bool


Item = Arrow | Note


@dataclass(frozen=True)
class Diagram:
    """A whole session as a sequence diagram."""

    title: str
    lifelines: tuple[Lifeline, ...]
    items: tuple[Item, ...]
    """Arrows and notes in the order they happened."""
    steps: int
    """How many steps the session took (the last step's number)."""
    current: int | None = None
    """The step the user is looking at (highlighted in the view), if any."""


# --- Making one ------------------------------------------------------------------------------------------


class _Text:
    """Bounds, escapes and blanks every text that goes into the diagram."""

    def __init__(self, hide: Sequence[str]) -> None:
        self.hide = tuple(sorted((h for h in hide if h), key=len, reverse=True))

    def __call__(self, text: str, limit: int = LABEL_LIMIT) -> str:
        shown = printable(text, limit)  # cut before it is expanded: controls become \x1b-style escapes
        for form in self.hide:
            shown = shown.replace(form, SECRET_MASK)
        return shown if len(shown) <= limit + 1 else shown[:limit] + "…"


def build_diagram(views: Sequence[SessionView], *, title: str = "SMTP session", hide: Sequence[str] = (),
                  mitm: str | None = None, tampering: Sequence[str] = (), current: int | None = None,
                  hops: Sequence[Hop] = ()) -> Diagram:
    """The diagram of the steps in ``views`` (the view before the first step and after each one, as the
    timeline and recordings keep them; views without a step are skipped).

    ``hide``: the password and its base64 forms, to blank. ``mitm``: the kind of man in the middle (one of
    ``MITM_KINDS``) between client and server, whose reported changes are ``tampering`` (oldest first).
    ``hops``: the server's own sessions to the MX, each drawn after the step whose reply named its message.
    """
    text = _Text(hide)
    relay = mitm in MITM_KINDS
    lifelines = [Lifeline(CLIENT, "Client")]
    if relay:
        lifelines.append(Lifeline(RELAY, "Relay (man in the middle)"))
    lifelines.append(Lifeline(SERVER, "Server"))
    steps = [view for view in views if view.last is not None]
    notes = _place_tampering(steps, tampering, text) if relay else {}
    placed = _place_hops(steps, hops)
    if placed:
        lifelines.append(Lifeline(MX, "MX (port 25)"))
    items: list[Item] = []
    tls = False
    for view in steps:
        step = _Step(view, tls, relay, text, notes.get(view.steps_done, {}))
        items += step.items()
        for hop in placed.get(view.steps_done, []):
            items += _hop_items(view.steps_done, hop, text)
        tls = view.snapshot.tls is not None
    leftover = notes.get(0, {}).get("end", [])
    last = steps[-1].steps_done if steps else 0
    items += [Note(last, (RELAY,), line, "tamper", tls) for line in leftover]
    return Diagram(text(title, NOTE_LIMIT), tuple(lifelines), tuple(items), last, current)


def diagram_of(recording: Recording, *, current: int | None = None, upto: int | None = None) -> Diagram:
    """The diagram of a recording (its meta data names a man in the middle and what he changed); with
    ``upto``, only its steps up to that one (a replay shown step by step)."""
    meta = recording.meta
    target = str(meta.get("target") or "an SMTP server")
    lesson = meta.get("lesson")
    title = f"Lesson {lesson}" + (f", part {meta.get('part')}" if meta.get("parts", 1) != 1 else "") \
        if lesson else f"SMTP session with {target}"
    mitm = meta.get("mitm")
    tampering = str(meta.get("tampering") or "").splitlines()
    diagram = build_diagram(recording.views, title=title, hide=recording.hide,
                            mitm=mitm if isinstance(mitm, str) else None, tampering=tampering, current=current,
                            hops=hops_of(meta.get("hops")))
    if upto is None or upto >= diagram.steps:
        return diagram
    return replace(diagram, items=tuple(item for item in diagram.items if item.step <= upto), steps=upto)


def lesson_meta(lesson: Lesson, part: int, tampering: Sequence[str] = (), received: Sequence[object] = ()
                ) -> dict[str, Any]:
    """What a recording's meta data holds about the lesson part it is (0 for the first): the lesson, the part,
    a man in the middle with what he changed, if the part has one, and the relay hops among what the built-in
    server ``received`` (``hop_meta``)."""
    return {"lesson": lesson.name, "part": part + 1, "parts": len(lesson.parts),
            **relay_meta(lesson.part(part).session.mitm, tampering), **hop_meta(received)}


@dataclass(frozen=True)
class Hop:
    """One relay hop the built-in server made: the message it relayed, and the lines of its session."""

    key: str
    """The Maildir key of the queued message (the one a "queued as" reply of the session named)."""
    lines: tuple[tuple[str, str], ...]
    """(kind, text) as in ``facts.ServerNote``: heading, dns, client, server, note."""


def hop_meta(received: Sequence[object]) -> dict[str, Any]:
    """What a recording's meta data holds about the relay hops among ``received`` (the built-in server's
    messages and notes): one JSON string, as meta data values are plain; empty when there were none."""
    hops = [{"key": key[len("hop-"):], "lines": [list(line) for line in lines]}
            for key, lines in ((getattr(record, "key", ""), getattr(record, "lines", None)) for record in received)
            if key.startswith("hop-") and lines is not None]
    return {"hops": json.dumps(hops, ensure_ascii=False)} if hops else {}


def hops_of(value: object) -> list[Hop]:
    """The hops of a recording's meta data (text from outside: bounded before it is parsed; whatever does not
    fit is left out, the lines bounded)."""
    if not isinstance(value, str) or len(value) > HOP_META_LIMIT:
        return []
    try:
        value = json.loads(value)
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    hops = []
    for entry in value:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("lines"), list):
            lines = tuple((str(line[0]), str(line[1])) for line in entry["lines"][:HOP_LINES_KEPT]
                          if isinstance(line, list) and len(line) == 2)
            hops.append(Hop(entry["key"], lines))
    return hops


def _place_hops(views: Sequence[SessionView], hops: Sequence[Hop]) -> dict[int, list[Hop]]:
    """Each hop at the step whose reply says "queued as" its message's key; a hop no step names is left out
    (it belongs to another session)."""
    placed: dict[int, list[Hop]] = {}
    for hop in hops:
        for view in views:
            assert view.last is not None
            if hop.key and any(f"queued as {hop.key}" in line for answer in view.last.answers
                               for line in answer.reply.lines):
                placed.setdefault(view.steps_done, []).append(hop)
                break
    return placed


def _hop_items(step: int, hop: Hop, text: _Text) -> list[Item]:
    """The hop's session as arrows between the server and the MX: a command per line the server sent (the
    message, after 354, as one arrow), a reply per complete reply (RFC 5321 §4.2.1: "250-" goes on, "250 "
    ends it), its DNS questions and remarks as notes over the server."""
    asked: list[Item] = []
    items: list[Item] = [Arrow(step, SERVER, MX, "connect (TCP)", "connect", False)]
    reply: list[str] = []
    body = 0
    in_body = False
    for kind, line in hop.lines:
        if kind == "dns":  # asked before connecting: where the mail goes (RFC 5321 §5.1)
            asked.append(Note(step, (SERVER,), text(line, NOTE_LIMIT), "dns", False))
        elif kind == "note":
            items.append(Note(step, (SERVER,), text(line, NOTE_LIMIT), "hop", False))
        elif kind == "client" and in_body:
            if line == ".":
                items.append(Arrow(step, SERVER, MX, f"(the message: {body} lines, then “.”)", "command", False))
                in_body, body = False, 0
            else:
                body += 1
        elif kind == "client":
            items.append(Arrow(step, SERVER, MX, text(line), "command", False))
        elif kind == "server":
            reply.append(line)
            if len(line) < 4 or line[3] != "-":
                code = int(line[:3]) if line[:3].isdigit() else None
                label = f"{reply[0][:3]} {reply[0][4:]}".strip()
                if len(reply) > 1:
                    label += " · " + " ".join(r[4:].split(" ", 1)[0] for r in reply[1:])
                items.append(Arrow(step, MX, SERVER, text(label), "reply", False, code))
                in_body = code == 354
                reply = []
    return asked + items


def relay_meta(mitm: str | None, tampering: Sequence[str]) -> dict[str, Any]:
    """What a recording's meta data holds about a man in the middle (empty without one), for ``diagram_of``."""
    if mitm is None:
        return {}
    return {"mitm": mitm, "tampering": "\n".join(" ".join(line.split()) for line in tampering)}


class _Step:
    """The arrows and notes of one step."""

    def __init__(self, view: SessionView, tls_before: bool, relay: bool, text: _Text,
                 tampering: dict[str, list[str]]) -> None:
        assert view.last is not None
        self.view = view
        self.result = view.last
        self.number = view.steps_done
        self.tls = tls_before
        self.relay = relay
        self.text = text
        self.tampering = tampering

    def items(self) -> list[Item]:
        result, out = self.result, []
        failure = result.failure
        sent = failure is None or failure.kind not in REFUSED_BEFORE_SENDING
        first = result.commands[0]
        verb = _verb(first)
        if verb == Verb.DNS:  # asked of DNS, not of the server: a note beside the client (RFC 5321 §5.1)
            if result.lookup is not None:
                out.append(self._note((CLIENT,), f"DNS: {result.lookup.line()}", "dns"))
        elif verb == Verb.CONNECT:
            if failure is None or failure.kind not in ("resolve", "refused", "connect"):
                out += self._hops("connect", "connect (TCP)", None)
        elif verb == Verb.TLS_HANDSHAKE:
            out += self._handshake()
        elif verb != Verb.GREETING and sent:
            for command in result.commands:
                out += self._hops("command", self._command_label(command), None)
                if isinstance(command, MessageBody) and command.stuffed_lines:
                    # RFC 5321 §4.5.2: a line that starts with "." gets one more before it is sent.
                    lines = "1 line" if command.stuffed_lines == 1 else f"{command.stuffed_lines} lines"
                    out.append(self._note((CLIENT,), f"{lines} starting with “.” sent as “..” (dot-stuffing, "
                                                     "RFC 5321 §4.5.2)", "dot-stuffing"))
        tamper_command = self.tampering.get("command", [])
        if tamper_command:  # the relay changed a command: between the client's hop and the server's
            index = next((i for i, item in enumerate(out) if isinstance(item, Arrow) and item.target == SERVER),
                         len(out))
            notes = [self._note((RELAY,), line, "tamper") for line in tamper_command]
            out[index:index] = notes
            out = [_rewritten(item) if isinstance(item, Arrow) and item.source == RELAY else item for item in out]
        for answer in result.answers:
            out += self._reply(answer.reply, _verb(answer.command), last=answer is result.answers[-1])
        for discarded in result.discarded:
            out.append(self._note((CLIENT,), f"discarded {len(discarded.data)} bytes unread: {discarded.reason}",
                                  "discarded"))
        if failure is not None and verb != Verb.TLS_HANDSHAKE:
            out.append(self._note((CLIENT,), f"failed: {FAILURE_WORDS.get(failure.kind, 'it failed')}", "failure"))
        out += [self._note((RELAY,), line, "tamper") for line in self.tampering.get("end", [])]
        return out

    def _hops(self, kind: str, label: str, code: int | None) -> list[Item]:
        """One arrow from the client to the server, or two through the relay."""
        if not self.relay:
            return [Arrow(self.number, CLIENT, SERVER, label, kind, self.tls, code)]
        return [Arrow(self.number, CLIENT, RELAY, label, kind, self.tls, code),
                Arrow(self.number, RELAY, SERVER, label, kind, self.tls, code, relayed=True)]

    def _reply(self, reply: Reply, verb: Verb, *, last: bool) -> list[Item]:
        label = self.text(_reply_label(reply, verb))
        if not self.relay:
            return [Arrow(self.number, SERVER, CLIENT, label, "reply", self.tls, reply.code)]
        changed = self.tampering.get("reply", []) if last else []
        upstream = self.text(f"{reply.code} (the reply as the server sent it)") if changed else label
        return [Arrow(self.number, SERVER, RELAY, upstream, "reply", self.tls, reply.code, relayed=True),
                *[self._note((RELAY,), line, "tamper") for line in changed],
                Arrow(self.number, RELAY, CLIENT, label, "reply", self.tls, reply.code)]

    def _handshake(self) -> list[Item]:
        result, over = self.result, (CLIENT, RELAY, SERVER) if self.relay else (CLIENT, SERVER)
        tls = result.snapshot.tls
        notes = [self._note((RELAY,), line, "tamper") for line in self.tampering.get("handshake", [])]
        if result.failure is None and tls is not None:  # what the relay saw came first: the client's first byte
            version = tls.version or "TLS"
            return [*notes,
                    Note(self.number, over, self.text(f"TLS handshake ({version})", NOTE_LIMIT), "handshake", True)]
        reason = FAILURE_WORDS.get(result.failure.kind, "it failed") if result.failure is not None else "it failed"
        return [*notes, Note(self.number, over, self.text(f"TLS handshake failed: {reason}", NOTE_LIMIT), "failure",
                             self.tls)]

    def _command_label(self, command: Command) -> str:
        return self.text(command.label)

    def _note(self, over: tuple[str, ...], line: str, kind: str) -> Note:
        return Note(self.number, over, self.text(line, NOTE_LIMIT), kind, self.tls)


def _verb(command: Command) -> Verb:
    return command.acts_as if isinstance(command, Raw) else command.verb


def _reply_label(reply: Reply, verb: Verb) -> str:
    """The code and the first line; an EHLO reply's keywords; how many more lines a long reply has."""
    label = reply.first_line
    rest = reply.lines[1:]
    if rest and verb in (Verb.EHLO, Verb.HELO):
        return f"{label} · " + " ".join(line.split(" ", 1)[0] for line in rest)
    if rest:
        return f"{label} (+{len(rest)} lines)"
    return label


def _rewritten(arrow: Arrow) -> Arrow:
    """A command the relay rewrote before passing it on: what the server got instead (``relay.py``)."""
    if arrow.kind == "command" and arrow.text.upper() == "STARTTLS":
        return Arrow(arrow.step, arrow.source, arrow.target, "XXXXXXXX", arrow.kind, arrow.tls, arrow.code, True)
    return arrow


def _place_tampering(views: Sequence[SessionView], tampering: Sequence[str],
                     text: _Text) -> dict[int, dict[str, list[str]]]:
    """Each change the relay reported, at the exchange it concerns: the k-th change to an EHLO reply at the
    k-th EHLO, a rewritten STARTTLS at the STARTTLS, a connection it could not read at the TLS handshake;
    anything else after the last step (step 0, "end")."""
    wanted = {"reply": [v for v in views if _verb(v.last.commands[0]) in (Verb.EHLO, Verb.HELO)],  # type: ignore[union-attr]
              "command": [v for v in views if any(_verb(c) == Verb.STARTTLS for c in v.last.commands)],  # type: ignore[union-attr]
              "handshake": [v for v in views if _verb(v.last.commands[0]) == Verb.TLS_HANDSHAKE]}  # type: ignore[union-attr]
    placed: dict[int, dict[str, list[str]]] = {}
    for line in tampering:
        line = " ".join(str(line).split())
        if not line:
            continue
        where = ("reply" if _TAMPER_ON_REPLY.search(line) else "command" if _TAMPER_ON_COMMAND.search(line)
                 else "handshake" if _TAMPER_ON_HANDSHAKE.search(line) else "end")
        candidates = wanted.get(where, [])
        if candidates:
            step = candidates.pop(0).steps_done
        else:
            step, where = 0, "end"
        placed.setdefault(step, {}).setdefault(where, []).append(line)
    return placed


__all__ = ["CLIENT", "FAILURE_WORDS", "MX", "RELAY", "SERVER", "Arrow", "Diagram", "Hop", "Item", "Lifeline", "Note",
           "build_diagram", "diagram_of", "hop_meta", "hops_of", "lesson_meta", "relay_meta"]
