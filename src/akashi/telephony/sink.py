"""The hand-over of a finished call to :mod:`akashi.ingest` (the recorder never touches the database)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from akashi.telephony.call.outcome import outcome_of
from akashi.telephony.recorder import finalise

if TYPE_CHECKING:
    from akashi.context import Akashi

#: the installation opened by a store worker process (one per process)
_worker: dict[str, Akashi] = {}


def store_folder(ak: Akashi, folder: Path) -> int:
    """Finalise a call's spool folder into its stereo WAV (or RTP container), ingest it, remove the folder."""
    from akashi.ingest import ingest_call  # noqa: PLC0415 - runs in the store worker process: the recorder never loads the database layer

    done = folder / "ingested"
    if done.exists():  # stored before a crash: only the clean-up was left
        shutil.rmtree(folder, ignore_errors=True)
        return int(done.read_text() or 0)
    media, meta = finalise(folder)
    if media.suffix == ".akrtp":
        from akashi.telephony.rawmedia import ingest_raw_call  # noqa: PLC0415 - runs in the store worker process: the recorder never loads the database layer

        call_id = ingest_raw_call(ak, media, outcome_of(meta))
    else:
        call_id = ingest_call(ak, media, outcome_of(meta))
    done.write_text(str(call_id))  # a restart must not store the same call twice
    shutil.rmtree(folder, ignore_errors=True)
    return call_id


def init_worker(home: str) -> None:
    """Start of a store worker process: open the installation once."""
    from akashi.context import Akashi  # noqa: PLC0415 - runs in the store worker process: the recorder never loads the database layer

    _worker["ak"] = Akashi.open(home, run_migrations=False)


def store_in_worker(folder: str) -> int:
    """:func:`store_folder` in a worker process made by :func:`init_worker`."""
    return store_folder(_worker["ak"], Path(folder))
