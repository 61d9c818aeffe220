"""Steps: what the client does at each step (connect, greeting, EHLO, STARTTLS, ...) and why, and what
a failure of the step means.

Pure: no I/O. An unknown step key gets a short generic explanation.
"""

from __future__ import annotations

import re

from smtpstep.protocol.explanations.model import Entry, Explanation

# ---------------------------------------------------------------------------------------------------
# Steps: what the client does and why
# ---------------------------------------------------------------------------------------------------

_STEPS: dict[str, Entry] = {
    "connect": Entry(
        "connect",
        "The client opens a TCP connection: port 25 between mail servers, 587 for submission with STARTTLS, "
        "465 for submission over implicit TLS. Then it waits, because the server speaks first.",
        "RFC 5321 §3.1, §4.3.1; RFC 6409 §3.1; RFC 8314 §3.3",
    ),
    "greeting": Entry(
        "the greeting",
        "The server speaks first: 220 and its name means it is ready. A 554 instead means it will not take mail "
        "from this client, a 521 that it takes no mail at all; either way the client sends QUIT. A client should "
        "wait at least 5 minutes for the greeting, because busy servers accept the connection and delay the 220.",
        "RFC 5321 §3.1, §4.3.1, §4.5.3.2.1; RFC 7504 §3",
    ),
    "implicit-tls": Entry(
        "implicit TLS",
        "On port 465 the TLS handshake starts right after connecting, before any SMTP, so not even the greeting "
        "travels in clear text. RFC 8314 recommends this for mail submission.",
        "RFC 8314 §1, §3.3",
    ),
    "ehlo": Entry(
        "EHLO",
        "The client introduces itself with EHLO and its name, and asks which extensions the server supports. "
        "The 250 reply lists them, one keyword per line, and the client may use only those.",
        "RFC 5321 §3.2, §4.1.1.1",
    ),
    "helo": Entry(
        "HELO",
        "The old greeting from RFC 821: the client introduces itself but learns no extensions. "
        "Afterwards only plain SMTP is available, with no STARTTLS, AUTH or SIZE.",
        "RFC 5321 §3.2, §4.1.1.1",
    ),
    "helo-fallback": Entry(
        "fall back to HELO",
        "The server answered EHLO with 500 or 502, so it is probably an old server without extensions. "
        "The client falls back to HELO and carries on with plain SMTP.",
        "RFC 5321 §3.2, §4.1.4",
    ),
    "starttls": Entry(
        "STARTTLS",
        "The client asks to turn this clear-text connection into an encrypted one. "
        "On 220 it starts the TLS handshake at once; on 454 TLS is not available, and a client that needs it "
        "stops.",
        "RFC 3207 §4",
    ),
    "tls-handshake": Entry(
        "TLS handshake",
        "Client and server agree on keys, and the server shows a certificate that the client checks against "
        "the host name it meant to reach. From now on every byte is encrypted.",
        "RFC 3207 §4.1; RFC 7817; RFC 8314 §5.3",
    ),
    "ehlo-after-starttls": Entry(
        "EHLO again after STARTTLS",
        "After the handshake both sides forget everything they learned before it, since an attacker could have "
        "changed it in transit. So the client asks again with EHLO, and the list may differ: AUTH often "
        "appears only now.",
        "RFC 3207 §4.2, §6",
    ),
    "auth-plain": Entry(
        "AUTH PLAIN",
        "The client sends one base64 string holding the user name and password, separated by NUL bytes. "
        "Base64 is an encoding, not encryption: anyone who sees the bytes can read the password, so this "
        "belongs inside TLS.",
        "RFC 4616 §2; RFC 4954 §4",
    ),
    "auth-login": Entry(
        "AUTH LOGIN",
        "A common mechanism that only an expired Internet-Draft describes (draft-murchison-sasl-login): the "
        "server prompts with 334 for the user name and then the password, and the client answers each with a "
        "base64 line. Like PLAIN it shows the password to anyone watching, so it needs TLS.",
        "RFC 4954 §4",
    ),
    "auth-cram-md5": Entry(
        "AUTH CRAM-MD5",
        "The server sends a one-time challenge, and the client answers with its user name and an MD5-based "
        "hash of the challenge keyed with the password. The password never crosses the wire, but MD5 is weak "
        "and the server must keep the password, or an equivalent of it.",
        "RFC 2195 §2; RFC 4954 §4",
    ),
    "auth-oauthbearer": Entry(
        "AUTH OAUTHBEARER",
        "The client logs in with an OAuth 2.0 bearer token instead of a password. Its base64 answer holds a GS2 "
        "header naming the user, then auth=Bearer and the token, the fields separated by the byte 0x01. Whoever "
        "holds the token can use it, so it must travel only inside TLS.",
        "RFC 7628 §3.1; RFC 6750 §5.3",
    ),
    "auth-xoauth2": Entry(
        "AUTH XOAUTH2",
        "Google's older token mechanism, defined by the provider rather than an RFC: user= and auth=Bearer with "
        "the token, separated by 0x01, in base64. The same idea as OAUTHBEARER, the standard form; a bearer "
        "token is as good as a password to whoever sees it, so it must travel only inside TLS.",
        "RFC 7628 §3.1; RFC 6750 §5.3",
    ),
    "auth-challenge": Entry(
        "answer the AUTH challenge",
        "The server sent 334 and waits; its text is a base64 challenge, possibly empty. "
        "The client answers with exactly one base64 line, or with '*' to give up, which the server answers "
        "with 501.",
        "RFC 4954 §4",
    ),
    "mail": Entry(
        "MAIL FROM",
        "The client starts a mail transaction by naming the sender, the address where bounces go; the empty "
        "sender <> is what bounces themselves use. Parameters such as SIZE= or BODY= may follow, if the "
        "server offered those extensions.",
        "RFC 5321 §3.3, §4.1.1.2, §4.5.5",
    ),
    "rcpt": Entry(
        "RCPT TO",
        "The client names one recipient, and repeats the command for each further one. "
        "Each gets its own reply, so some may be accepted and others refused; a server must be able to take "
        "at least 100 recipients in one transaction.",
        "RFC 5321 §3.3, §4.1.1.3, §4.5.3.1.8",
    ),
    "data": Entry(
        "DATA",
        "The client asks to send the message. It must wait for 354 before sending a single line of it, "
        "and any other reply means the message must not be sent.",
        "RFC 5321 §3.3, §4.1.1.4",
    ),
    "message": Entry(
        "the message and the final dot",
        "The client sends the header fields, a blank line and the body, then a line holding only a dot "
        "(<CRLF>.<CRLF>). Lines end in CRLF and stay within 1000 octets; the reply to the dot says whether the "
        "server took the message.",
        "RFC 5321 §4.1.1.4, §4.5.3.1.6, §4.2.5",
    ),
    "dot-stuffing": Entry(
        "dot-stuffing",
        "A message line that starts with a dot could be mistaken for the end, so the client adds one more dot "
        "in front of it and the server removes it again. A line \".hidden\" travels as \"..hidden\".",
        "RFC 5321 §4.5.2",
    ),
    "rset": Entry(
        "RSET",
        "The client aborts the current transaction: the server forgets the sender, recipients and data. "
        "The session, with its EHLO, TLS and AUTH, stays as it was.",
        "RFC 5321 §4.1.1.5",
    ),
    "noop": Entry(
        "NOOP",
        "The client asks the server to do nothing and reply 250: a way to check that the connection is alive "
        "or to keep it from timing out.",
        "RFC 5321 §4.1.1.9",
    ),
    "vrfy": Entry(
        "VRFY",
        "The client asks whether a mailbox exists. Because that helps spammers collect addresses, many servers "
        "answer 252 (cannot verify, will try delivery) or refuse.",
        "RFC 5321 §3.5, §4.1.1.6, §7.3",
    ),
    "expn": Entry(
        "EXPN",
        "The client asks the server to expand a mailing list into its members' mailboxes. That hands address "
        "lists to whoever asks, so many sites switch EXPN off; a server that has not really checked an address "
        "must not answer 250.",
        "RFC 5321 §3.5, §4.1.1.7, §7.3",
    ),
    "bdat": Entry(
        "BDAT (a chunk of the message)",
        "BDAT N announces a chunk of exactly N octets of the message, sent right after the command line. The "
        "server counts octets instead of looking for a line with a dot, so nothing in the chunk is changed; once "
        "it has read all N it answers 250, and more chunks follow.",
        "RFC 3030 §2",
    ),
    "bdat-last": Entry(
        "BDAT ... LAST (the last chunk)",
        "LAST marks the last chunk of the message. With it the server has the whole message, so its reply is "
        "its answer for the message, as the reply after DATA's final dot is.",
        "RFC 3030 §2",
    ),
    "dns-lookup": Entry(
        "DNS lookup",
        "Before connecting, the client asks DNS where mail for the recipient's domain goes: first its MX records, "
        "lowest preference first; with no MX record at all the domain itself is the \"implicit MX\" with "
        "preference 0. Then it asks for the chosen host's address. No mail server hears anything yet.",
        "RFC 5321 §5.1; RFC 1035 §3.3.9",
    ),
    "dns-failed": Entry(
        "no route for the mail",
        "DNS says the mail cannot go anywhere now. A domain that does not exist must be reported as an error; "
        "a temporary failure (no answer in time, SERVFAIL) means a mail server queues the message and tries "
        "later; a null MX (\"0 .\") says the domain takes no mail at all.",
        "RFC 5321 §5.1, §4.5.4.1; RFC 7505 §3",
    ),
    "help": Entry(
        "HELP",
        "The client asks for help text meant for humans, answered with 214 or 211. It changes nothing in the "
        "session.",
        "RFC 5321 §4.1.1.8",
    ),
    "quit": Entry(
        "QUIT",
        "The client ends the session politely: the server replies 221 and closes the connection. "
        "QUIT must be the last command of every session.",
        "RFC 5321 §3.8, §4.1.1.10, §4.1.4",
    ),
    "raw": Entry(
        "a raw line",
        "The user typed a line, and the client sends it as written with CRLF, without checking whether it "
        "fits the current state. The server's reply shows how it treats the line, even a wrong one.",
        "RFC 5321 §2.3.8, §4.2, §4.3.2",
    ),
    "pipelining": Entry(
        "pipelining",
        "The server offered PIPELINING, so the client sends several commands at once, such as MAIL, RCPT and "
        "DATA, and then reads the replies, matching them to the commands in order. This saves a round trip "
        "per command; DATA must end the group.",
        "RFC 2920 §3.1",
    ),
    "closed": Entry(
        "connection closed",
        "The connection is closed, after QUIT and 221 or because the server hung up (often after 421). "
        "Nothing more can be sent; connect again for a new session.",
        "RFC 5321 §3.8",
    ),
    "starttls-missing": Entry(
        "STARTTLS required but not offered",
        "TLS is required, but the EHLO reply does not list STARTTLS. Someone in the middle may have deleted it "
        "to keep the session readable (STARTTLS stripping), so the client stops instead of sending mail or a "
        "password in clear text.",
        "RFC 3207 §6; RFC 8314 §5.2",
    ),
    "tls-verify-failed": Entry(
        "certificate check failed",
        "The server's certificate is not trusted, has expired or names another host, so the client cannot be "
        "sure it reached the real server. It stops, because anyone in the middle could show such a "
        "certificate.",
        "RFC 8314 §5.3; RFC 7817; RFC 3207 §4.1",
    ),
    "cleartext-auth-refused": Entry(
        "no password over clear text",
        "The connection is not encrypted, and PLAIN or LOGIN would send the password readable to anyone on "
        "the path. The client refuses to authenticate until TLS is up, with STARTTLS or on port 465.",
        "RFC 4954 §4, §9; RFC 8314 §5.2",
    ),
}

STEPS: tuple[str, ...] = tuple(_STEPS)
"""Every step key ``explain_step`` knows."""


def explain_step(step: str) -> Explanation:
    """Explain a step: what the client does and why. An unknown key gets a short generic explanation."""
    key = re.sub(r"[\s_]+", "-", str(step).strip().lower())
    entry = _STEPS.get(key)
    if entry is None:
        return Explanation(
            str(step).strip() or "(no step)",
            "smtpstep has no explanation for this step. Every SMTP exchange is a command and its reply.",
            "RFC 5321 §4.3.1",
        )
    return Explanation(entry.title, entry.text, entry.rfc)
