"""Predict-the-reply: what the quiz asks before a reply is shown, how a guess is graded, and the tally.

A class guesses what the server will answer to the command just sent: the reply's first digit (``digit``
mode), or its three digits (``code`` mode). ``Quiz`` holds the question waiting for a guess, the digits
typed so far and every verdict; the terminal app (and a later follow mode) only renders it and hands it
keys. The reveal is always the server's real reply, taken from the step's result: the quiz never makes a
reply up, it only decides when the screen shows it.

For a broadcast session (``--broadcast``) it also holds what the classroom needs: ``Asking`` (the open question
as followers get it, without its reply), ``answer_line`` (a follower's answer), and ``Poll`` with ``RoomTally``
(the teacher's count of the followers' answers: one per follower, none after the reveal, every field checked
and bounded, since an answer is text from outside).

Rules:
- the first digit says how the server took the command (RFC 5321 §4.2.1): 2 done, 3 go on, 4 not now
  (transient), 5 no (permanent); a guess is right when it names what the server said (its first digit in
  ``digit`` mode, all three in ``code`` mode, where the right first digit alone counts as close);
- a step without a reply (the connection, a TLS handshake, a failure) asks nothing;
- the server's words are text from outside: they reach the verdict escaped (``shown``).
No Textual, no I/O, no clock.
"""

from __future__ import annotations

import json
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
            return f"{self.guess_keys} Space shows the reply without a guess."
        return f"{self.guess_keys} Space shows it without a guess."

    @property
    def guess_keys(self) -> str:
        """How to guess, in words (a follower's screen says no more: only the teacher shows the reply)."""
        if self.mode == "digit":
            return "Guess the first digit: 2, 3, 4 or 5 (or click)."
        return "Guess the code: type its three digits (or click the first)."


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
        self.pending = self.question_about(step, answers)
        return self.pending

    def question_about(self, step: int, answers: tuple) -> Question | None:  # type: ignore[type-arg]
        """The question a step's answers make (None: no reply to guess), without asking it."""
        if not answers:
            return None
        answer = answers[-1]
        verb = answer.command.verb
        about = _SUBJECT.get(verb) or answer.command.label
        first = answer.reply.lines[0] if answer.reply.lines else ""
        text = shown(f"{answer.reply.code} {first}".strip())
        meaning = reply_blocks(answer)[0].title  # what the explanation pane will say first about it
        return Question(step, shown(about), answer.reply.code, text, verb, meaning, self.mode)

    def press(self, key: str) -> Verdict | None:
        """A key (a digit) for the pending question: the verdict once the guess is complete, else None."""
        question = self.pending
        if question is None:
            return None
        guess = self.take_key(key, question.mode)
        return self._grade(guess) if guess is not None else None

    def take_key(self, key: str, mode: str) -> str | None:
        """A key typed for a guess in ``mode``: the whole guess once it is complete, else None (a key that
        cannot be part of one is ignored)."""
        if not key.isdigit() or len(key) != 1 or (not self.typed and key not in MEANINGS):
            return None  # no reply code starts with 0, 1, 6...
        self.typed += key
        if mode == "digit" or len(self.typed) == 3:
            guess, self.typed = self.typed, ""
            return guess
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
        self.pending = None
        return self.grade(question, guess)

    def grade(self, question: Question, guess: str | None) -> Verdict:
        """Grade ``guess`` (None: none given) against the real reply ``question`` holds, and count it."""
        code = str(question.code)
        if guess is None:
            verdict = Verdict(question, None, False)
        elif question.mode == "digit":
            verdict = Verdict(question, guess, guess == code[0])
        else:
            verdict = Verdict(question, guess, guess == code, close=guess != code and guess[0] == code[0])
        self.verdicts.append(verdict)
        self.typed = ""
        return verdict

    @property
    def tally(self) -> Tally:
        v = self.verdicts
        return Tally(len(v), sum(x.right for x in v), sum(x.close for x in v), sum(x.guess is None for x in v))


# --- The classroom: followers answer on their own screens, the teacher's screen counts -------------------

MAX_ANSWER_LINE = 256
"""Bytes of one follower's answer (one JSON line); anything longer is dropped unread."""

MAX_ASKING = 4096
"""Bytes of the question the teacher's session sends its followers."""

MAX_VOTERS = 1000
"""Followers counted for one question: more than a lecture hall holds, and a bound on what the tally keeps."""

MAX_ABOUT = 200
"""Characters of the command a follower's question names (the label of a command, its secrets masked)."""


def valid_guess(mode: str, guess: object) -> bool:
    """Whether ``guess`` is a whole answer in ``mode``: a first digit 2-5, or three digits starting with one."""
    if not isinstance(guess, str) or not guess or guess[0] not in MEANINGS:
        return False
    if mode == "digit":
        return len(guess) == 1
    return len(guess) == 3 and guess.isascii() and guess.isdigit()


@dataclass(frozen=True)
class Asking:
    """What a follower needs to answer the teacher's open question, and nothing of its reply.

    ``question`` is None when no question is open. Sent from the teacher's session to each follower; read
    back with ``Asking.from_json``, which bounds and checks every field (the text is shown escaped)."""

    question: str | None
    """The question's id (a few random hex digits, new for every question)."""
    step: int = 0
    about: str = ""
    mode: str = "digit"

    def to_json(self) -> bytes:
        if self.question is None:
            return b'{"question": null}'
        return json.dumps({"question": self.question, "step": self.step, "about": self.about,
                           "mode": self.mode}).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> Asking | None:
        """The question in ``data``; None for anything that is not one."""
        if len(data) > MAX_ASKING:
            return None
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(document, dict):
            return None
        qid = document.get("question")
        if qid is None:
            return cls(None)
        step, about, mode = document.get("step"), document.get("about"), document.get("mode")
        if not _question_id(qid) or type(step) is not int or not 0 < step < 1_000_000 or \
                not isinstance(about, str) or mode not in MODES:
            return None
        return cls(qid, step, shown(about[:MAX_ABOUT]), mode)

    @property
    def shown_question(self) -> Question:
        """The question as a follower's quiz panel shows it (its reply unknown until the teacher reveals it)."""
        return Question(self.step, self.about, 0, "", None, "", self.mode)


def _question_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isascii() and value.isalnum()


def answer_line(question: str, guess: str) -> bytes:
    """A follower's answer as it travels to the teacher: one small JSON line."""
    return json.dumps({"question": question, "answer": guess}).encode("ascii") + b"\n"


@dataclass(frozen=True)
class RoomTally:
    """The followers' answers to one question, for the teacher's screen."""

    answered: int
    counts: tuple[tuple[str, int], ...]
    """(answer, followers who gave it): every first digit in ``digit`` mode, the most given codes in ``code``."""
    code: int | None = None
    """The real reply's code, once revealed."""
    mode: str = "digit"

    def is_right(self, answer: str) -> bool:
        if self.code is None:
            return False
        code = str(self.code)
        return answer == (code[0] if self.mode == "digit" else code)

    @property
    def right(self) -> int:
        return sum(count for answer, count in self.counts if self.is_right(answer))

    @property
    def sentence(self) -> str:
        """"12 answered: 2xx 7 · 3xx 3 · 4xx 0 · 5xx 2" (and, once revealed, how many were right)."""
        parts = " · ".join(f"{_label(answer, self.mode)} {count}" for answer, count in self.counts)
        said = f"{self.answered} answered" + (f": {parts}" if self.answered else "")
        return said if self.code is None else f"{said}; {self.right} right"


def _label(answer: str, mode: str) -> str:
    return f"{answer}xx" if mode == "digit" else answer


@dataclass
class Poll:
    """One question put to the followers: one answer per follower, counted until the teacher reveals the reply.

    A follower is whoever ``take`` is told (the teacher's end names each by its process): its first answer
    counts, a second one (after a reconnection, say) does not. After ``close`` nothing more is counted: an
    answer sent after the teacher moved on is late."""

    question: str
    mode: str
    votes: dict[object, str] = field(default_factory=dict)
    code: int | None = None
    is_open: bool = True

    def take(self, follower: object, line: bytes) -> bool:
        """Count ``line`` (a follower's answer, as it came) if it is one for this open question; whether it was."""
        if not self.is_open or follower in self.votes or len(self.votes) >= MAX_VOTERS or \
                len(line) > MAX_ANSWER_LINE:
            return False
        try:
            document = json.loads(line)
        except (ValueError, RecursionError):
            return False
        if not isinstance(document, dict) or set(document) != {"question", "answer"} or \
                document["question"] != self.question or not valid_guess(self.mode, document["answer"]):
            return False
        self.votes[follower] = document["answer"]
        return True

    def close(self, code: int | None) -> None:
        """The reply is revealed (its code) or the question went away (None): no answer counts any more."""
        self.is_open = False
        self.code = code

    @property
    def tally(self) -> RoomTally:
        given: dict[str, int] = {}
        for answer in self.votes.values():
            given[answer] = given.get(answer, 0) + 1
        if self.mode == "digit":
            counts = tuple((digit, given.get(digit, 0)) for digit in MEANINGS)
        else:
            counts = tuple(sorted(given.items(), key=lambda item: (-item[1], item[0]))[:SHOWN_CODES])
        return RoomTally(len(self.votes), counts, self.code, self.mode)


SHOWN_CODES = 6
"""Code mode: the most given codes the teacher's screen lists."""
