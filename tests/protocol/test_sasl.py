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
    with pytest.raises(sasl.SaslError, match="GSSAPI"):
        sasl.respond("GSSAPI", "student", "s3cret", "")


# --- OAuth 2.0 bearer tokens: XOAUTH2 and OAUTHBEARER (RFC 7628) -------------------------------------------


def test_xoauth2_initial_response_matches_googles_published_example():
    # Google's XOAUTH2 page: user=someuser@example.com^Aauth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg^A^A
    response = sasl.initial_response("XOAUTH2", "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    assert response == ("dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1"
                        "semRHRXVZMjl0Q2cBAQ==")


def test_oauthbearer_initial_response_is_a_gs2_header_then_pairs_ended_by_0x01():
    decoded = base64.b64decode(sasl.initial_response("OAUTHBEARER", "a,b=c@example.test", "tok") or "")
    # RFC 7628 §3.1; "," and "=" in the authzid are written =2C and =3D (RFC 5801 §4).
    assert decoded == b"n,a=a=2Cb=3Dc@example.test,\x01auth=Bearer tok\x01\x01"


def test_a_token_mechanism_answers_the_empty_challenge_with_its_initial_response_and_an_error_with_a_fixed_ack():
    assert sasl.respond("OAUTHBEARER", "student", "tok", "")[0] == sasl.initial_response("OAUTHBEARER", "student", "tok")
    error = base64.b64encode(b'{"status":"invalid_token"}').decode()
    assert sasl.respond("OAUTHBEARER", "student", "tok", error)[0] == "AQ=="  # a single 0x01 (RFC 7628 §3.2.3)
    assert sasl.respond("XOAUTH2", "student", "tok", error)[0] == ""
    assert not sasl.carries_secret("XOAUTH2", error) and sasl.carries_secret("XOAUTH2", "")
    assert sasl.carries_secret("LOGIN", error)


def test_a_token_mechanism_is_never_chosen_unless_asked_for():
    from smtpstep.protocol.planner import choose_mechanism

    assert choose_mechanism(("XOAUTH2", "OAUTHBEARER"), None) is None
    assert choose_mechanism(("XOAUTH2", "PLAIN"), None) == "PLAIN"
    assert choose_mechanism(("XOAUTH2", "PLAIN"), "xoauth2") == "XOAUTH2"
