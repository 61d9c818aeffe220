"""Predict-the-reply: what the quiz asks before a reply is shown, how a guess is graded, and the tally.

A class guesses what the server will answer to the command just sent: the reply's first digit (``digit``
mode), or its three digits (``code`` mode). ``Quiz`` holds the question waiting for a guess, the digits
typed so far and every verdict; the terminal app (and a later follow mode) only renders it and hands it
keys. The reveal is always the server's real reply, taken from the step's result: the quiz never makes a
reply up, it only decides when the screen shows it.

Rules:
- the first digit says how the server took the command (RFC 5321 §4.2.1): 2 done, 3 go on, 4 not now
  (transient), 5 no (permanent); a guess is right when it names what the server said (its first digit in
  ``digit`` mode, all three in ``code`` mode, where the right first digit alone counts as close);
- a step without a reply (the connection, a TLS handshake, a failure) asks nothing;
- the server's words are text from outside: they reach the verdict escaped (``shown``).
No Textual, no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smtpstep.app.session.narration import reply_blocks
from smtpstep.protocol.commands import Verb
from smtpstep.protocol.text import shown

MODES = ("digit", "code")
"""What is asked: the reply's first digit, or its whole code."""

MEANINGS = {
    "2": "done",
    "3": "go on",
    "4": "not now",
    "5": "no",
}
"""The first digit in a word or two (RFC 5321 §4.2.1: positive completion, positive intermediate, transient
negative, permanent negative)."""

_SUBJECT = {
    Verb.GREETING: "the connection (its greeting)",
    Verb.CONNECT: "the connection (its greeting)",
    Verb.MESSAGE: "the message and its final dot",
    Verb.AUTH_RESPONSE: "the AUTH response",
}


@dataclass(frozen=True)
class Question:
    """One step's reply, to be guessed before it is shown."""

    step: int
    """The step (1 for the first) whose reply is asked about."""
    asked_about: str
    """What the server answers: the command's label (its secret parts masked) or the greeting."""
    code: int
    """The code the server really sent."""
    text: str
    """The reply's first line, as the server said it (shown text)."""
    verb: Verb | None = None
    """The kind of command the reply answers."""
    meaning: str = ""
    """What the reply means, in a few words (the explanation catalog's title for it)."""
    mode: str = "digit"

    @property
    def prompt(self) -> str:
        return f"What did the server answer to {self.asked_about}?"

    @property
    def keys(self) -> str:
        """What to press, in words."""
        if self.mode == "digit":
            return "Guess the first digit: 2, 3, 4 or 5 (or click). Space shows the reply without a guess."
        return "Guess the code: type its three digits (or click the first). Space shows it without a guess."


@dataclass(frozen=True)
class Verdict:
    """A graded guess (or none: the reply was shown without one)."""

    question: Question
    guess: str | None
    right: bool
    close: bool = False
    """Code mode: the first digit was right, the rest not."""

    @property
    def mark(self) -> str:
        """A glyph and a word, so that the verdict never rests on colour alone."""
        if self.guess is None:
            return "– No guess"
        if self.right:
            return "✓ Right"
        return "≈ Close" if self.close else "✗ Not this time"

    @property
    def sentence(self) -> str:
        q = self.question
        said = f"the server answered {q.text}" if q.text else f"the server answered {q.code}"
        digit = str(q.code)[0]
        meaning = f" ({digit}xx: {MEANINGS.get(digit, 'unknown')})"
        if q.meaning:
            said = f"{said}{meaning}. {q.meaning}"
            meaning = ""
        if self.guess is None:
            return f"{self.mark}: {said}{meaning}."
        if self.right:
            return f"{self.mark}: {said}{meaning}."
        yours = self.guess if len(self.guess) == 3 else f"{self.guess}xx ({MEANINGS.get(self.guess, '?')})"
        return f"{self.mark}: you said {yours}; {said}{meaning}."


@dataclass(frozen=True)
class Tally:
    asked: int
    right: int
    close: int
    skipped: int

    @property
    def sentence(self) -> str:
        if not self.asked:
            return "No reply guessed yet."
        extra = [f"{self.close} close"] if self.close else []
        if self.skipped:
            extra.append(f"{self.skipped} shown without a guess")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{self.right} of {self.asked} replies guessed right{tail}."


@dataclass
class Quiz:
    """The quiz of one class: the mode, the question waiting for a guess, the digits typed, the verdicts."""

    mode: str = "digit"
    pending: Question | None = None
    """The question waiting for a guess (its reply is held back until then)."""
    typed: str = ""
    """Code mode: the digits typed so far."""
    verdicts: list[Verdict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"the quiz asks for one of {', '.join(MODES)}, not {self.mode!r}")

    def ask(self, step: int, commands: tuple, answers: tuple) -> Question | None:  # type: ignore[type-arg]
        """The question about a step's result (its commands and the answers they got), now pending; None (and
        nothing pending) when the step brought no reply to guess."""
        self.typed = ""
        self.pending = None
        if not answers:
            return None
        answer = answers[-1]
        verb = answer.command.verb
        about = _SUBJECT.get(verb) or answer.command.label
        first = answer.reply.lines[0] if answer.reply.lines else ""
        text = shown(f"{answer.reply.code} {first}".strip())
        meaning = reply_blocks(answer)[0].title  # what the explanation pane will say first about it
        self.pending = Question(step, shown(about), answer.reply.code, text, verb, meaning, self.mode)
        return self.pending

    def press(self, key: str) -> Verdict | None:
        """A key (a digit) for the pending question: the verdict once the guess is complete, else None."""
        question = self.pending
        if question is None or not key.isdigit() or len(key) != 1:
            return None
        if not self.typed and key not in MEANINGS:
            return None  # no reply code starts with 0, 1, 6...
        self.typed += key
        if question.mode == "digit" or len(self.typed) == 3:
            return self._grade(self.typed)
        return None

    def erase(self) -> None:
        """Take back the last digit typed."""
        self.typed = self.typed[:-1]

    def reveal(self) -> Verdict | None:
        """Show the reply without a guess (it counts as asked, not as right)."""
        return self._grade(None) if self.pending is not None else None

    def drop(self) -> None:
        """Forget the pending question unanswered (a new session began): it is not counted."""
        self.pending = None
        self.typed = ""

    def _grade(self, guess: str | None) -> Verdict:
        question = self.pending
        assert question is not None
        code = str(question.code)
        if guess is None:
            verdict = Verdict(question, None, False)
        elif question.mode == "digit":
            verdict = Verdict(question, guess, guess == code[0])
        else:
            verdict = Verdict(question, guess, guess == code, close=guess != code and guess[0] == code[0])
        self.verdicts.append(verdict)
        self.pending = None
        self.typed = ""
        return verdict

    @property
    def tally(self) -> Tally:
        v = self.verdicts
        return Tally(len(v), sum(x.right for x in v), sum(x.close for x in v), sum(x.guess is None for x in v))
