"""Predict-the-reply's rules, without Textual: what is asked, how a guess is graded, and the tally.

Replies are real ones where the grading depends on them (a Postfix refusal from tests/data/replies/)."""

from __future__ import annotations

import pytest

from smtpstep.app.session.quiz import Quiz
from smtpstep.protocol.client import Answer
from smtpstep.protocol.commands import Ehlo, RcptTo, ReadGreeting, TlsHandshake
from smtpstep.protocol.replies import Reply
from smtpstep.protocol.states import State
from tests.app.session.test_narration import recorded

EHLO_250 = Answer(Ehlo("client.smtpstep.test"), Reply(250, ("mail.smtpstep.test", "STARTTLS")),
                  State.READY_FOR_MAIL)


def test_a_step_with_a_reply_asks_about_its_last_reply_and_keeps_the_real_code() -> None:
    quiz = Quiz()
    question = quiz.ask(3, (EHLO_250.command,), (EHLO_250,))
    assert question is not None and quiz.pending is question
    assert (question.step, question.code, question.asked_about) == (3, 250, "EHLO client.smtpstep.test")
    assert question.text == "250 mail.smtpstep.test" and question.meaning


def test_a_step_without_a_reply_asks_nothing() -> None:
    quiz = Quiz()
    assert quiz.ask(5, (TlsHandshake(),), ()) is None
    assert quiz.pending is None


def test_in_digit_mode_one_key_grades_the_first_digit() -> None:
    quiz = Quiz()
    quiz.ask(3, (EHLO_250.command,), (EHLO_250,))
    verdict = quiz.press("2")
    assert verdict is not None and verdict.right and verdict.mark == "✓ Right"
    assert "250" in verdict.sentence and quiz.pending is None
    quiz.ask(3, (EHLO_250.command,), (EHLO_250,))
    wrong = quiz.press("5")
    assert wrong is not None and not wrong.right and wrong.sentence.startswith("✗ Not this time: you said 5xx")


def test_a_key_that_no_reply_code_starts_with_is_ignored() -> None:
    quiz = Quiz()
    quiz.ask(3, (EHLO_250.command,), (EHLO_250,))
    assert quiz.press("0") is None and quiz.press("x") is None and quiz.pending is not None
    assert quiz.tally.asked == 0


def test_in_code_mode_three_digits_grade_the_code_and_the_right_class_alone_is_close() -> None:
    refused = recorded("postfix", "unknown-user", "RCPT")
    answer = Answer(RcptTo("nobody@example.test"), refused, State.READY_FOR_RCPT)
    quiz = Quiz("code")
    quiz.ask(9, (answer.command,), (answer,))
    assert quiz.press("5") is None and quiz.press("5") is None and quiz.typed == "55"
    quiz.erase()
    assert quiz.typed == "5"
    quiz.press("5")
    verdict = quiz.press("3")
    assert verdict is not None and not verdict.right and verdict.close and verdict.mark == "≈ Close"
    assert f"you said 553; the server answered {refused.code}" in verdict.sentence
    quiz.ask(9, (answer.command,), (answer,))
    for digit in str(refused.code):
        verdict = quiz.press(digit)
    assert verdict is not None and verdict.right


def test_showing_the_reply_without_a_guess_counts_as_asked_not_right_and_the_tally_says_so() -> None:
    quiz = Quiz()
    greeting = Answer(ReadGreeting(), Reply(220, ("mail.smtpstep.test ESMTP",)), State.READY_FOR_HELLO)
    quiz.ask(2, (greeting.command,), (greeting,))
    verdict = quiz.reveal()
    assert verdict is not None and verdict.guess is None and verdict.mark == "– No guess"
    assert quiz.ask(2, (greeting.command,), (greeting,)) is not None and quiz.press("2") is not None
    assert quiz.ask(3, (EHLO_250.command,), (EHLO_250,)) is not None and quiz.press("4") is not None
    quiz.ask(3, (EHLO_250.command,), (EHLO_250,))
    quiz.drop()  # a new session: the open question is not counted
    tally = quiz.tally
    assert (tally.asked, tally.right, tally.skipped) == (3, 1, 1)
    assert tally.sentence == "1 of 3 replies guessed right (1 shown without a guess)."


def test_the_servers_words_reach_the_verdict_escaped() -> None:
    hostile = Answer(Ehlo("client.smtpstep.test"), Reply(250, ("evil\x1b[2Jname",)), State.READY_FOR_MAIL)
    quiz = Quiz()
    quiz.ask(3, (hostile.command,), (hostile,))
    verdict = quiz.press("2")
    assert verdict is not None and "\x1b" not in verdict.sentence


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="digit, code"):
        Quiz("letter")
