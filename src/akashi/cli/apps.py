"""The ``akashi`` command tree. Each area adds its commands to these apps in its own module."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from akashi.access import Principal, load_principal
from akashi.context import Akashi
from akashi.db.base import session_scope

app = typer.Typer(
    name="akashi",
    help="Akashi (証): 通話・カメラ録画と証拠保全 / call and camera recording with an evidence store",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
user_app = typer.Typer(help="利用者 / users", no_args_is_help=True)
site_app = typer.Typer(help="拠点 / sites", no_args_is_help=True)
import_app = typer.Typer(help="取り込み / import recordings", no_args_is_help=True)
calls_app = typer.Typer(help="通話 / calls", no_args_is_help=True)
export_app = typer.Typer(help="証拠パッケージ / evidence packages", no_args_is_help=True)
cameras_app = typer.Typer(help="カメラ / cameras", no_args_is_help=True)
signage_app = typer.Typer(help="掲示物 / signs and scripts", no_args_is_help=True)
hold_app = typer.Typer(help="訴訟ホールド / legal hold", no_args_is_help=True)

app.add_typer(user_app, name="user")
app.add_typer(site_app, name="site")
app.add_typer(import_app, name="import")
app.add_typer(calls_app, name="calls")
app.add_typer(export_app, name="export")
app.add_typer(cameras_app, name="cameras")
app.add_typer(signage_app, name="signage")
app.add_typer(hold_app, name="hold")


@dataclass
class State:
    """Options given before the command (``akashi --home DIR ...``)."""

    home: Path | None = None


state = State()

#: how ``akashi import call`` and ``akashi import bulk`` say the caller heard the recording notice
IMPORT_NOTICE_MODES = ("operator", "automatic", "none")


@app.callback()
def _root(
    home: Path | None = typer.Option(
        None, "--home", help="Akashi home (else $AKASHI_HOME, else ./akashi-data)"
    ),
) -> None:
    state.home = home


def log_to_stderr(level: str = "INFO") -> None:
    """Log records of ``level`` and above to stderr, or of ``AKASHI_LOG_LEVEL`` when it is set (the
    long-running commands: serve, the transcriber, the demo)."""
    logging.basicConfig(
        level=os.environ.get("AKASHI_LOG_LEVEL", level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def open_akashi(*, run_migrations: bool = True) -> Akashi:
    """Open the installation named by ``--home``."""
    return Akashi.open(state.home, run_migrations=run_migrations)


def principal_for(as_user: str | None) -> Principal:
    """Who a command acts as: ``--as-user NAME`` loaded from the database, else the system (``cli``)."""
    if as_user is None:
        return Principal.system("cli")
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        return load_principal(s, as_user)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``data`` as JSON, or ``text`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    elif text is not None:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
