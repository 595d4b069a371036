"""``akashi setup-link``: a new one-time link to the first-run setup page."""

from __future__ import annotations

from akashi.cli.apps import app, emit, open_akashi


@app.command("setup-link")
def setup_link() -> None:
    """初回セットアップ用の一度限りのリンクを作成 / make a one-time link to the first-run setup page.

    A new link replaces any earlier one. Refused once the installation has users.
    """
    from akashi.firstrun import issue_token, setup_message

    ak = open_akashi()
    token = issue_token(ak.engine)
    emit(None, False, setup_message(ak.settings, token))


def next_step_text(has_users: bool) -> str:
    """What ``akashi init`` says to do next (Japanese first)."""
    if has_users:
        return (
            "次の手順: `akashi serve`（または `make run`）で起動し、ブラウザーでログインしてください。\n"
            "Next: start Akashi with `akashi serve` (or `make run`) and log in with a browser."
        )
    return (
        "次の手順: `akashi serve`（または `make run`）で起動すると、初回セットアップ用のリンクが表示されます。"
        "ブラウザーで開き、会社名・最初の管理者・拠点を登録してください（リンクは `akashi setup-link` でも作れます）。\n"
        "Next: start Akashi with `akashi serve` (or `make run`); it prints a one-time setup link. Open it in a "
        "browser to enter the company, the first administrator and a site (`akashi setup-link` makes one too)."
    )
