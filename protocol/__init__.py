"""smtpstep's SMTP engine: a sans-I/O client core, the transport that does the I/O, and the built-in server.

The modules at the top of this package are pure: no asyncio, ssl, socket, clock or Textual; the I/O is in
``transport/`` and ``server/``.
"""
