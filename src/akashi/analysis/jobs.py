"""Job handlers of the analysis area (imported by the job worker, never by the recorders)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from akashi.analysis.pipeline import analyze_call
from akashi.jobs import handler

if TYPE_CHECKING:
    from akashi.context import Akashi


@handler("transcribe")
def transcribe(ak: Akashi, payload: dict[str, Any]) -> None:
    """Transcribe a stored call and run detection and the notice check (``{"call_id": id}``)."""
    analyze_call(ak, int(payload["call_id"]), retranscribe=True)


@handler("analyze")
def reanalyze(ak: Akashi, payload: dict[str, Any]) -> None:
    """Re-run detection on the stored transcript (after a lexicon change): ``{"call_id": id}``."""
    analyze_call(ak, int(payload["call_id"]), retranscribe=bool(payload.get("retranscribe", False)))
