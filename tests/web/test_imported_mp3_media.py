"""A call imported as MP3/M4A (kept as received) plays in the browser as a WAV derived on the fly,
with Range requests and waveform peaks; the stored object stays the file as received."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from akashi.calloutcome import CallOutcome
from akashi.cli.bulkimport import ingest_file
from akashi.db.base import session_scope
from akashi.db.models import Call
from tests.cli.test_bulk_import import encode, tone
from tests.web.conftest import Seeded, api_login

pytest.importorskip("av")


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    from akashi.web.app import create_app

    with TestClient(create_app(seeded_sqlite.ak), base_url="http://testserver") as c:
        yield c


@pytest.mark.parametrize(
    ("container", "codec", "rate"), [("mp3", "libmp3lame", 8000), ("ipod", "aac", 16000)]
)
def test_imported_compressed_call_plays_as_wav(
    client: TestClient, seeded_sqlite: Seeded, tmp_path: Path, container: str, codec: str, rate: int
) -> None:
    source = encode(tmp_path / f"old.{container}", tone(2.0, 440, rate), rate, container, codec)
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    record = CallOutcome(
        started_at=started, answered_at=started, direction="in", caller="03-1234-5678", site="tokyo", agent="tanaka",
        source="import", notice_mode="operator",
    )  # fmt: skip
    cid = ingest_file(seeded_sqlite.ak, source, record)
    api_login(client, "boss_tokyo")
    url = f"/api/v1/calls/{cid}/media"
    full = client.get(url)
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(full.content)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, rate, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(frames.shape[0] / rate - 2.0) < 0.15 and np.abs(frames).max() > 4000
    part = client.get(url, headers={"Range": "bytes=100-4099"})
    assert part.status_code == 206 and part.content == full.content[100:4100]
    peaks = client.get(f"/api/v1/calls/{cid}/peaks").json()
    assert peaks["channels"] == 2 and max(peaks["peaks"][0]) > 0.1 and max(peaks["peaks"][1]) > 0.1
    with session_scope(seeded_sqlite.ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None and call.media_object_id is not None
        oid = call.media_object_id
    kept = b"".join(seeded_sqlite.ak.store.iter_plaintext(oid))
    assert kept == source.read_bytes()  # the evidence is the file as received
