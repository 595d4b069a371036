"""What call control learns about a call while it runs, typed: notice, ringing, session end, errors.

The models are the ``calls`` row's own schema (:mod:`akashi.callfacts`), so what telephony writes is
exactly what the store keeps and what analysis and the web read back; this module names them for
call control.
"""

from __future__ import annotations

from akashi.callfacts import CallEvent, CallFacts, CodecFacts, Failure, SessionEnd

__all__ = ["CallEvent", "CallFacts", "CodecFacts", "Failure", "SessionEnd"]
