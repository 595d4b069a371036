"""The checklist's 「デモ通話を流す」 button: an admin starts ``akashi demo`` (and removes its data).

``POST /setup/demo`` starts the demo as a child process of the server (it runs for a minute or two
and ends by itself); ``POST /setup/demo/clear`` removes every demo call and the demo camera's footage
through the store's delete path. Both are for admins only; a refusal is audited.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from akashi.access import audit
from akashi.access.audit import audit_now
from akashi.db.base import session_scope
from akashi.db.models import Call, Camera
from akashi.demo.clear import clear_demo
from akashi.demo.lock import running
from akashi.errors import AccessDenied, ConfigError
from akashi.web.deps import AkashiDep, Auth, DbDep, UserDep, require_user
from akashi.web.render import templates

router = APIRouter(prefix="/setup/demo", dependencies=[Depends(require_user)], include_in_schema=False)

#: what the button starts unless the form says otherwise: six calls spread over a minute, and the camera
DEFAULT_CALLS = 6
DEFAULT_DURATION_S = 60
#: the demo this server started, per home: until its process has written ``demo.pid`` (a second or
#: two after the button), only this says that it runs; polling it also reaps the finished child
_children: dict[Path, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class DemoPanel:
    """What the checklist and the call list say about the demo."""

    running: bool
    calls: int  # demo calls stored so far
    cameras: int  # demo cameras
    log: list[str]  # the last lines the demo printed (what `akashi demo` shows in a terminal)


#: how much of ``demo.log`` the checklist shows
LOG_LINES = 30
_LOG_TAIL_BYTES = 8192


def log_tail(home: Path) -> list[str]:
    """The last lines of the demo's log (the latest run's: each start begins a new log)."""
    try:
        with (home / "demo.log").open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - _LOG_TAIL_BYTES))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if size > _LOG_TAIL_BYTES:
        lines = lines[1:]  # the first may be cut
    return lines[-LOG_LINES:]


def is_running(home: Path) -> bool:
    """Whether a demo runs for ``home`` (started here or by ``akashi demo``)."""
    child = _children.get(home)
    if child is not None and child.poll() is None:
        return True
    return running(home) is not None


def demo_panel(request: Request, auth: Auth | None) -> DemoPanel | None:
    """For templates: the demo's state, for admins only (None for everyone else)."""
    if auth is None or auth.principal.role != "admin":
        return None
    ak = request.app.state.akashi
    with session_scope(ak.engine) as s:
        calls = s.scalar(select(func.count()).select_from(Call).where(Call.demo)) or 0
        cameras = s.scalar(select(func.count()).select_from(Camera).where(Camera.demo)) or 0
    home = ak.settings.home
    return DemoPanel(is_running(home), int(calls), int(cameras), log_tail(home))


templates.env.globals["demo_panel"] = demo_panel


def _admin(ak: AkashiDep, auth: Auth, action: str) -> None:
    if auth.principal.role == "admin":
        return
    audit_now(ak.engine, user=auth.principal.name, action=action, target_type="demo",
              outcome="denied", client=auth.client)  # fmt: skip
    raise AccessDenied("デモは管理者のみ実行できます", "only admins may run the demo")


@router.post("")
def start_demo(
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    calls: Annotated[int, Form(ge=1, le=20, description="demo calls")] = DEFAULT_CALLS,
    duration: Annotated[
        int, Form(ge=5, le=600, description="seconds the calls are spread over")
    ] = DEFAULT_DURATION_S,
) -> Response:
    """Start the demo traffic in a child process (one at a time); back to the call list."""
    _admin(ak, auth, "demo_start")
    args = ["demo", "--calls", str(calls), "--duration", str(duration)]
    home = ak.settings.home
    if is_running(home):
        raise ConfigError("デモは既に実行中です", "a demo is already running")
    log = (home / "demo.log").open("wb")  # this run's log: the checklist shows its last lines
    try:
        proc = subprocess.Popen(  # the same installation, through the CLI's own code path
            [sys.executable, "-m", "akashi.cli.main", "--home", str(home), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this request; ends by itself
        )
    finally:
        log.close()
    _children[home] = proc
    audit(db, user=auth.principal.name, action="demo_start", target_type="demo", target_id=proc.pid,
          client=auth.client, detail={"calls": calls, "duration_s": duration})  # fmt: skip
    return RedirectResponse("/calls", status_code=303)


@router.post("/clear")
def clear_demo_data(ak: AkashiDep, auth: UserDep) -> Response:
    """Remove every demo call and the demo camera's footage (ledger tombstones, audited)."""

    _admin(ak, auth, "demo_clear")
    if is_running(ak.settings.home):
        raise ConfigError(
            "デモの実行中は削除できません", "the demo is still running: remove its data after it ends"
        )
    clear_demo(ak, user=auth.principal.name, client=auth.client)
    return RedirectResponse("/?demo=cleared#checklist", status_code=303)
