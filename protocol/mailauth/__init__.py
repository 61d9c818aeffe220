"""Mail authentication for the built-in receiving MX: an in-process DNS zone (``zone``), SPF (``spfcheck``,
RFC 7208), DKIM (``dkimcheck``, RFC 6376), DMARC and Authentication-Results (``dmarc``, RFC 7489, RFC 8601),
and the lesson world that ties them together (``world``).

Nothing here opens a socket, reads a file or keeps time: DNS questions are answered from memory. The
modules import dnspython, pyspf, dkimpy and authres at their top, so this package's ``__init__`` imports
none of them, and only the server's ``receiving-mx`` scenario imports the modules, when a message arrives.
"""
