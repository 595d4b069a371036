"""The checklist's 「デモ通話を流す」 button: an admin starts ``akashi demo`` (and removes its data).

``POST /setup/demo`` starts the demo as a child process of the server (it runs for a minute or two
and ends by itself); ``POST /setup/demo/clear`` removes every demo call and the demo camera's footage
through the store's delete path. Both are for admins only; a refusal is audited.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response

from akashi.access import audit
from akashi.access.audit import audit_now
from akashi.demo.lock import running
from akashi.errors import AccessDenied, ConfigError
from akashi.web.deps import AkashiDep, Auth, DbDep, UserDep, require_user

router = APIRouter(prefix="/setup/demo", dependencies=[Depends(require_user)], include_in_schema=False)

#: what the button starts unless the form says otherwise: six calls spread over a minute, and the camera
DEFAULT_CALLS = 6
DEFAULT_DURATION_S = 60


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
    if running(home) is not None:
        raise ConfigError("デモは既に実行中です", "a demo is already running")
    log = (home / "demo.log").open("ab")
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
    audit(db, user=auth.principal.name, action="demo_start", target_type="demo", target_id=proc.pid,
          client=auth.client, detail={"calls": calls, "duration_s": duration})  # fmt: skip
    return RedirectResponse("/calls", status_code=303)


@router.post("/clear")
def clear_demo_data(ak: AkashiDep, auth: UserDep) -> Response:
    """Remove every demo call and the demo camera's footage (ledger tombstones, audited)."""
    from akashi.demo.clear import clear_demo

    _admin(ak, auth, "demo_clear")
    if running(ak.settings.home) is not None:
        raise ConfigError(
            "デモの実行中は削除できません", "the demo is still running: remove its data after it ends"
        )
    clear_demo(ak, user=auth.principal.name, client=auth.client)
    return RedirectResponse("/#checklist", status_code=303)
