"""The classroom's quiz values: the question as followers get it, a follower's answer, and the teacher's count.

Pure values: every field a follower or the teacher's channel sends is checked and bounded here.
"""

from __future__ import annotations

import json

from smtpstep.app.session.quiz import (
    MAX_ABOUT,
    MAX_ANSWER_LINE,
    MAX_ASKING,
    MAX_VOTERS,
    SHOWN_CODES,
    Asking,
    Poll,
    answer_line,
    valid_guess,
)


def test_a_question_reaches_followers_without_its_reply_and_comes_back_checked_bounded_and_escaped() -> None:
    asking = Asking("a1b2c3", 3, "EHLO client", "code")
    assert Asking.from_json(asking.to_json()) == asking
    assert set(json.loads(asking.to_json())) == {"question", "step", "about", "mode"}  # no code, no reply text
    assert Asking.from_json(Asking(None).to_json()) == Asking(None)
    long = Asking.from_json(json.dumps({"question": "q1", "step": 1, "about": "\x1b]0;x\x07" + "A" * 999,
                                        "mode": "digit"}).encode())
    assert long is not None and long.about.startswith("\\x1b]0;x\\x07") and len(long.about) <= MAX_ABOUT + 8
    for bad in (b"[]", b"{", b'{"question": "q 1", "step": 1, "about": "", "mode": "digit"}',
                b'{"question": "q1", "step": true, "about": "", "mode": "digit"}',
                b'{"question": "q1", "step": 0, "about": "", "mode": "digit"}',
                b'{"question": "q1", "step": 1, "about": 5, "mode": "digit"}',
                b'{"question": "q1", "step": 1, "about": "", "mode": "guess"}',
                b'{"question": "' + b"q" * 40 + b'", "step": 1, "about": "", "mode": "digit"}',
                b" " * (MAX_ASKING + 1) + b"{}"):
        assert Asking.from_json(bad) is None, bad


def test_a_poll_counts_one_valid_answer_per_follower_until_it_closes() -> None:
    poll = Poll("q1", "digit")
    assert poll.take("anna", answer_line("q1", "2")[:-1])
    assert not poll.take("anna", answer_line("q1", "5"))  # a second answer from the same follower
    assert not poll.take("ben", answer_line("q0", "5"))  # another question's
    assert not poll.take("ben", b" " * MAX_ANSWER_LINE + answer_line("q1", "5"))  # too long
    assert poll.take("ben", answer_line("q1", "5"))
    assert poll.tally.sentence == "2 answered: 2xx 1 · 3xx 0 · 4xx 0 · 5xx 1"
    poll.close(250)
    assert not poll.take("cleo", answer_line("q1", "2"))  # late
    assert poll.tally.right == 1 and poll.tally.sentence.endswith("; 1 right")
    assert not valid_guess("digit", "22") and not valid_guess("code", "2x0") and not valid_guess("code", "650")
    assert valid_guess("code", "550") and not valid_guess("digit", 2)


def test_a_code_poll_lists_the_most_given_codes_and_a_crowd_is_bounded() -> None:
    poll = Poll("q2", "code")
    for voter in range(MAX_VOTERS + 5):
        poll.take(voter, answer_line("q2", f"2{voter % 9}0"))
    tally = poll.tally
    assert tally.answered == MAX_VOTERS and len(tally.counts) == SHOWN_CODES
    assert tally.counts[0][1] >= tally.counts[-1][1]
    poll.close(250)
    assert poll.tally.right == dict(tally.counts)["250"]
