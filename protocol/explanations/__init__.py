"""The explanation catalog: what a reply code, an enhanced status code, an EHLO keyword or a step means.

Holds the plain-words texts the explanation pane shows, each with the RFC section it comes from, as
data: dicts keyed by code, (code, verb), enhanced subject and detail, keyword and step. The functions
only look things up and fill in parameters (a SIZE limit, the AUTH mechanisms).

Rules for this module:
- pure: no I/O, no clock, no asyncio, ssl, socket or Textual imports;
- it never raises for odd input: an unknown code, keyword or step gets a generic explanation built from
  what can be read off it (the first digit of a reply, RFC 5321 §4.2; the class and subject of an
  enhanced code, RFC 3463 §2), because a server may send anything and no traceback reaches the user;
- every explanation cites its RFC section, so the pane can show where a rule comes from;
- texts are the app's own words, one to three short sentences, written for students.
"""

from smtpstep.protocol.explanations.enhanced_codes import explain_enhanced
from smtpstep.protocol.explanations.keywords import explain_keyword
from smtpstep.protocol.explanations.model import Explanation
from smtpstep.protocol.explanations.reply_codes import ReplyExplanation, explain_code, explain_reply
from smtpstep.protocol.explanations.steps import STEPS, explain_step

__all__ = ["STEPS", "Explanation", "ReplyExplanation", "explain_code", "explain_enhanced", "explain_keyword",
           "explain_reply", "explain_step"]
