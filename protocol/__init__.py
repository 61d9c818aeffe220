"""smtpstep's SMTP engine: a sans-I/O client core, the transport that does the I/O, and the built-in server.

Everything but ``transport.py`` and ``local_server.py`` is pure: no asyncio, ssl, socket, clock or Textual.
"""
