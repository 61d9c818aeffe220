"""Lessons: guided sessions on the built-in server, read from TOML files, with narration for every step.

Holds the model (``Lesson``, ``Part``, ``SessionSpec``, ``StepNote``), the loader (``load``,
``catalog``) and the checks that give a broken file a clear error (``LessonError``, which names the
file, the line and the field). A lesson says which server scenario to run, how its session goes
(security, AUTH, envelope, message, pipelining...), a sentence or two with RFC sections for every
step, and which reply each step should get. A lesson may have several parts: sessions run one after
another on the same server (a greylisted first attempt and its retry; three certificate failures).
The format is documented in ``docs/lessons.md``; the shipped catalog is ``files/*.toml``.

Rules:
- pure: the standard library's ``tomllib`` and the protocol core only. The only I/O is reading the
  lesson file asked for, or the catalog shipped with the package;
- it knows the app's session settings and the transport's target only by field name
  (``dataclasses.replace``), so the core never imports the app or the transport;
- a lesson runs only on the built-in server: its scenarios, certificates and demo account exist
  nowhere else, and the smuggling lesson's malformed message must never reach a real server.
"""
