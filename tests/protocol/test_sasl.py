"""SASL computations for AUTH: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195)."""

from __future__ import annotations

import base64

import pytest

from smtpstep.protocol import sasl


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_plain_initial_response_is_nul_user_nul_password_in_base64():
    # RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
    response = sasl.initial_response("PLAIN", "student", "s3cret")
    assert response == "AHN0dWRlbnQAczNjcmV0"
    assert base64.b64decode(response) == b"\0student\0s3cret"


def test_plain_encodes_non_ascii_credentials_as_utf_8():
    assert base64.b64decode(sasl.initial_response("PLAIN", "élève", "mot✓")) == "\0élève\0mot✓".encode()


@pytest.mark.parametrize("mechanism", ["LOGIN", "CRAM-MD5"])
def test_mechanisms_that_wait_for_a_challenge_have_no_initial_response(mechanism):
    assert sasl.initial_response(mechanism, "student", "s3cret") is None


@pytest.mark.parametrize(
    ("prompt", "answer", "shown"),
    [
        ("Username:", "student", "the user name, base64"),
        ("User Name", "student", "the user name, base64"),
        ("username:", "student", "the user name, base64"),
        ("Password:", "s3cret", "the password, base64"),
        ("password", "s3cret", "the password, base64"),
    ],
)
def test_login_answers_each_prompt_with_what_it_asks_for(prompt, answer, shown):
    assert sasl.respond("LOGIN", "student", "s3cret", b64(prompt)) == (b64(answer), shown)


def test_login_refuses_a_prompt_that_is_neither_user_nor_password():
    with pytest.raises(sasl.SaslError, match="neither"):
        sasl.respond("LOGIN", "student", "s3cret", b64("Favourite colour?"))


def test_cram_md5_matches_rfc_2195s_example():
    challenge = b64("<1896.697170952@postoffice.reston.mci.net>")
    response, shown = sasl.respond("CRAM-MD5", "tim", "tanstaaftanstaaf", challenge)
    assert base64.b64decode(response) == b"tim b913a602c7eda7a495b4e6e7334d3890"
    assert "tanstaaf" not in shown


def test_plain_answers_an_empty_challenge_with_the_initial_response():
    # RFC 4954 §4: a server that wants the response after AUTH PLAIN sends "334 " with nothing.
    assert sasl.respond("PLAIN", "student", "s3cret", "")[0] == "AHN0dWRlbnQAczNjcmV0"


def test_a_challenge_that_is_not_base64_is_a_sasl_error():
    with pytest.raises(sasl.SaslError, match="not valid base64"):
        sasl.respond("LOGIN", "student", "s3cret", "not base64!")


def test_a_mechanism_smtpstep_does_not_speak_is_a_sasl_error():
    with pytest.raises(sasl.SaslError, match="XOAUTH2"):
        sasl.respond("XOAUTH2", "student", "s3cret", "")
