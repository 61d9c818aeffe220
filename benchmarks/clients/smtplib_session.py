"""The minimal smtplib reference client: STARTTLS with verification, AUTH PLAIN, one message, QUIT.

Usage: smtplib_session.py HOST PORT CA_FILE USER FROM TO BODY_FILE   (password from $SMTPSTEP_PASSWORD)

Kept as small as a person would write it: its start-up and import cost is part of what is measured.
The certificate is checked against HOST (an IP address here, which both test certificates carry).
"""
import os
import smtplib
import ssl
import sys

host, port, ca, user, sender, rcpt, body_file = sys.argv[1:8]
with open(body_file, "rb") as f:
    body = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
message = f"From: {sender}\r\nTo: {rcpt}\r\nSubject: benchmark\r\n\r\n".encode() + body
context = ssl.create_default_context(cafile=ca)
with smtplib.SMTP(host, int(port), local_hostname="client.smtpstep.test") as smtp:
    smtp.starttls(context=context)
    smtp.user, smtp.password = user, os.environ["SMTPSTEP_PASSWORD"]
    smtp.auth("PLAIN", smtp.auth_plain)
    smtp.sendmail(sender, [rcpt], message)
