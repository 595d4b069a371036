"""``akashi checkpoint``: write a signed checkpoint of the ledger and audit heads now (audited)."""

from __future__ import annotations

from typing import Any

import typer

from akashi.cli.apps import app, emit, open_akashi
from akashi.context import Akashi
from akashi.db.base import session_scope


def checkpoint_now(
    ak: Akashi, kind: str, *, user: str, accepted: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Take a checkpoint, audit that it was taken (after it, so the next one covers the entry), return it."""
    from akashi.access import audit
    from akashi.store.checkpoint import take_checkpoint

    result = take_checkpoint(ak.store, kind, accepted=accepted)
    with session_scope(ak.engine) as s:
        audit(
            s,
            user=user,
            action="checkpoint",
            target_type="ledger",
            target_id=str(result.ledger_seq),
            outcome="ok" if result.ok else "failed",
            detail={
                "name": result.name,
                "kind": kind,
                "written": result.written,
                "failed": [f["place"] for f in result.failed],
                "tsa_time": result.tsa_time,
            },
        )
    return result.as_dict() | {"text": result.to_text()}


@app.command("checkpoint")
def checkpoint(as_json: bool = typer.Option(False, "--json")) -> None:
    """台帳と監査記録の先頭を署名し外部に固定（TSA・Object Lock・リモート）/ write a signed checkpoint now.

    Exit 1 when the TSA or a configured place did not take it (the others still did).
    """
    ak = open_akashi()
    out = checkpoint_now(ak, "manual", user="cli")
    emit({k: v for k, v in out.items() if k != "text"}, as_json, str(out["text"]))
    raise typer.Exit(0 if out["ok"] else 1)
