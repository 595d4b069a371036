"""Commands about who and what to trust: ``export check`` (a pinned signer) and ``audit-accept-head``."""

from __future__ import annotations

from pathlib import Path

import typer

from akashi.cli.apps import app, emit, export_app, open_akashi, state
from akashi.config import resolve_home
from akashi.errors import ConfigError
from akashi.store.keys import installation_public_pem
from akashi.store.package_check import Pin, check_package


def _pins(public_key: Path | None, fingerprint: str | None) -> list[Pin]:
    pins: list[Pin] = []
    if public_key is not None:
        try:
            pins.append(Pin.from_pem(public_key.read_bytes()))
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"--public-key の鍵が読めません（Ed25519 の PEM 公開鍵が必要です）: {public_key}: {err}",
                f"--public-key: not a readable Ed25519 PEM public key: {public_key}: {err}",
            ) from None
    if fingerprint is not None:
        try:
            pins.append(Pin.from_text(fingerprint))
        except ValueError as err:
            raise ConfigError(
                "--fingerprint は SHA256: と DER 公開鍵の SHA-256（16 進 64 桁）で指定してください",
                f"--fingerprint: {err}",
            ) from None
    if not pins:  # only where an installation exists: its own key is the one to trust
        pem = installation_public_pem(resolve_home(state.home) / "keys")
        if pem is not None:
            pins.append(Pin.from_pem(pem, "installation"))
    return pins


@export_app.command("check")
def export_check(
    file: Path = typer.Argument(..., exists=True, dir_okay=False),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="Trust only this Ed25519 public key (PEM) as the signer"
    ),
    fingerprint: str | None = typer.Option(
        None, "--fingerprint", help="Trust only the key with this fingerprint: SHA256:<64 hex> (DER, sha256)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """証拠パッケージを検証（オフライン、署名者を固定）/ check an evidence package offline against a pinned signer.

    信頼する鍵: --public-key、--fingerprint、どちらもなければこの設置の署名鍵。
    Trusted signer: --public-key, --fingerprint, else this installation's own signing key.
    終了コード / exit codes: 0 OK, 1 NG, 2 署名者未確認 / signer not verified.
    """
    report = check_package(file, pins=_pins(public_key, fingerprint))
    emit(report.as_dict(), as_json, report.to_text())
    raise typer.Exit(report.exit_code)


@app.command("audit-accept-head")
def audit_accept_head(
    reason: str = typer.Option(..., "--reason", help="Why (e.g. 'restored the 2026-11-28 backup')"),
    yes: bool = typer.Option(False, "--yes", help="Confirm"),
) -> None:
    """バックアップ復元後に監査ログの末尾を承認（監査記録）/ accept the audit log head after restoring a backup (audited)."""
    from akashi.access.audit import accept_audit_head, anchor_file

    if not yes:
        raise ConfigError(
            "復元を意図した場合だけ --yes を付けて実行してください",
            "run with --yes only after restoring a database backup on purpose",
        )
    from akashi.cli.checkpoint import checkpoint_now

    ak = open_akashi()
    row = accept_audit_head(ak.engine, anchor_file(ak.settings.home), user="cli", reason=reason, client="cli")
    # Checkpointed at once, outside the box, as ledger-accept-head is: the accept cannot hide what it cut.
    out = checkpoint_now(ak, "accept", user="cli", accepted={"audit_accept": row.seq, "reason": reason})
    emit(
        None,
        False,
        f"監査ログの末尾を承認しました（承認の記録 #{row.seq}） / audit log head accepted (recorded as #{row.seq})"
        f"\n{out['text']}",
    )
    if not out["ok"]:
        raise typer.Exit(1)
