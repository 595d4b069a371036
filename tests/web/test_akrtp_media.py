"""Calls kept as RTP (G.722, Opus): the player gets a WAV derived on the fly, with Range and peaks."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.db.base import session_scope
from akashi.db.models import AuditEntry
from tests.codecs.rtpaudio import (
    CALLER_AT,
    G722,
    HEARD_AT,
    OPUS,
    Spec,
    ingest_container,
    onsets,
    two_leg_container,
)
from tests.web.conftest import Seeded, api_login

pytest.importorskip("av")


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    from akashi.web.app import create_app

    with TestClient(create_app(seeded_sqlite.ak), base_url="http://testserver") as c:
        yield c


@pytest.mark.parametrize("spec", [G722, OPUS], ids=["g722", "opus"])
def test_akrtp_call_plays_as_wav_with_ranges(
    client: TestClient, seeded_sqlite: Seeded, tmp_path: Path, spec: Spec
) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    path = two_leg_container(tmp_path / "call.akrtp", spec, started.timestamp())
    cid = ingest_container(seeded_sqlite.ak, path, spec, started, site="tokyo", agent="tanaka")
    api_login(client, "boss_tokyo")
    url = f"/api/v1/calls/{cid}/media"
    full = client.get(url)
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    assert int(full.headers["content-length"]) == len(full.content)
    with wave.open(io.BytesIO(full.content)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert all(abs(a - b) <= 0.04 for a, b in zip(onsets(frames[:, 0], 16000), CALLER_AT, strict=True))
    assert all(abs(a - b) <= 0.04 for a, b in zip(onsets(frames[:, 1], 16000), HEARD_AT, strict=True))
    part = client.get(url, headers={"Range": "bytes=100-4099"})
    assert part.status_code == 206 and part.content == full.content[100:4100]
    assert part.headers["content-range"] == f"bytes 100-4099/{len(full.content)}"
    assert part.headers["content-type"] == "audio/wav"
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == full.content[-10:]
    assert client.get(url, headers={"Range": f"bytes={len(full.content)}-"}).status_code == 416
    down = client.get(url, params={"download": "true"})
    assert down.content == full.content
    assert down.headers["content-disposition"] == f'attachment; filename="call-{cid}.wav"'
    peaks = client.get(f"/api/v1/calls/{cid}/peaks").json()
    assert peaks["channels"] == 2 and peaks["rate"] == 16000
    assert max(peaks["peaks"][0]) > 0.3 and max(peaks["peaks"][1]) > 0.3
    page = client.get(f"/calls/{cid}")
    assert page.status_code == 200 and f'src="/api/v1/calls/{cid}/media"' in page.text
    with session_scope(seeded_sqlite.ak.engine) as s:
        entries = list(
            s.scalars(
                select(AuditEntry).where(
                    AuditEntry.target_id == str(cid), AuditEntry.user_name == "boss_tokyo"
                )
            )
        )
    assert sum(e.action == "play" for e in entries) >= 5
    assert sum(e.action == "download" for e in entries) == 1


def test_akrtp_media_still_needs_play_rights(
    client: TestClient, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    path = two_leg_container(tmp_path / "call.akrtp", G722, started.timestamp())
    cid = ingest_container(seeded_sqlite.ak, path, G722, started, site="tokyo")
    api_login(client, "auditor")
    assert client.get(f"/api/v1/calls/{cid}/media").status_code == 403
    assert client.get(f"/api/v1/calls/{cid}/peaks").status_code == 403
