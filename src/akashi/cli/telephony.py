"""CLI commands of the telephony area: ``akashi sip serve`` runs the B2BUA alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path

import typer

from akashi.cli.apps import app, open_akashi, state

sip_app = typer.Typer(help="SIP 録音 / SIP recording", no_args_is_help=True)
app.add_typer(sip_app, name="sip")


@sip_app.command("serve")
def sip_serve(
    ready_file: Path | None = typer.Option(
        None, "--ready-file", help="ここに待ち受けアドレスを書く / write the bound SIP address here (JSON)"
    ),
    stats_file: Path | None = typer.Option(
        None, "--stats-file", help="SIGUSR1 で統計を書く / write counters here on SIGUSR1 (JSON)"
    ),
) -> None:
    """SIP/RTP だけを動かす / run only the SIP recording B2BUA until interrupted."""
    from akashi.access.live import live_store
    from akashi.config.watch import ConfigWatch
    from akashi.telephony.liveconfig import LiveSettings
    from akashi.telephony.service import TelephonyService

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open_akashi() as ak:
        svc = TelephonyService(ak, live_link=live_store(ak))

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            if stats_file is not None:
                loop.add_signal_handler(
                    signal.SIGUSR1, lambda: stats_file.write_text(json.dumps(svc.stats()))
                )
            task = asyncio.create_task(svc.run(stop))
            ready = asyncio.create_task(svc.ready.wait())
            # route, agent and notice changes in akashi.toml apply to new calls without a restart
            watch = ConfigWatch(ak)
            watch.listeners.append(LiveSettings(svc))
            watching = asyncio.create_task(watch.run(stop))
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            if ready_file is not None and svc.ready.is_set():
                host, port = svc.sip.local
                ready_file.write_text(json.dumps({"host": host, "port": port}))
            await task
            stop.set()
            await watching

        try:
            import uvloop

            uvloop.run(main())
        except ImportError:  # pragma: no cover - uvloop is a dependency
            asyncio.run(main())


agent_app = typer.Typer(help="担当者（電話） / agents' phones", no_args_is_help=True)
app.add_typer(agent_app, name="agent")


@agent_app.command("secret")
def agent_secret(
    name: str = typer.Argument(..., help="SIP ユーザーまたは氏名 / the agent's SIP user or name"),
) -> None:
    """発信用パスワードを作り、一度だけ表示する / make an agent's digest secret and print it once.

    The secret is written into akashi.toml (mode 0600) and shown only now: set it on the agent's
    phone. The change is audited (without the secret). Telephony picks it up on restart.
    """
    from akashi.access.audit import audit_now
    from akashi.config import resolve_home
    from akashi.config.agentsecret import set_agent_secret

    agent, secret = set_agent_secret(resolve_home(state.home), name)
    with open_akashi() as ak:
        audit_now(
            ak.engine,
            user="cli",
            action="agent_secret",
            target_type="config",
            target_id=agent.sip_user,
            detail={"name": agent.name},
        )
    u = agent.sip_user
    typer.echo(f"担当者 {agent.name}（{u}）の発信用パスワード / digest secret of agent {agent.name} ({u}):")
    typer.echo(secret)
    typer.echo(
        f"表示はこの一度だけです。電話機に設定してください（ユーザー名 {u}）。SIP は再起動後に使います / "
        f"shown only this once: set it on the phone (user name {u}); telephony uses it after a restart."
    )
